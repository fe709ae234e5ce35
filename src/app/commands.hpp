#pragma once
// The moesim subcommands. Each returns the process exit code: 0 success, 2 bad input, 1 internal error
// (`compare` also 3: predictions differ).
#include <string>
#include <vector>

namespace moesim::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitDifferent = 3;  // `compare`: some metric beyond the tolerance

struct DescribeOptions {
  std::string file;
  bool json = false;
  int seq_len = 4096;
};
int describe_model_command(const DescribeOptions& options);
int describe_topology_command(const DescribeOptions& options);

struct CheckOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  bool json = false;
};
int check_command(const CheckOptions& options);

struct ListOptions {
  std::string root;  // folder holding models/, topologies/, scenarios/; empty = auto
  bool json = false;
};
int list_command(const ListOptions& options);

struct RunOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  std::string out_dir;     // summary.json goes here when set
  std::string trace_file;  // Chrome trace when set
  bool quiet = false;
  bool full_simulation = false;  // switch every engine reduction off
  bool no_mirror = false;        // switch mirrored ranks off only
};
int run_command(const RunOptions& options);

struct ValidateOptions {
  std::vector<std::string> paths;  // scenario files or folders; empty = scenarios/calibration
  int jobs = 1;                    // scenarios run at once (one process each)
  bool json = false;
};
// Runs every scenario with a `published` block (one process each) and prints published vs predicted.
int validate_command(const ValidateOptions& options);

struct CompareOptions {
  std::string baseline, current;     // summary.json files or --out folders
  double tolerance_rel = 0.0;        // allowed |relative change| per metric
  std::vector<std::string> metrics;  // only these (empty = every metric)
  bool only_beyond = false;          // list only the metrics beyond the tolerance
  bool json = false;
};
// Compares every prediction of two summaries; exit 3 when some metric moved beyond the tolerance.
int compare_command(const CompareOptions& options);

}  // namespace moesim::app

#pragma once
// The `serving` block of an inference scenario: request workload (arrivals, prompt/output lengths or a JSONL
// trace), continuous-batching scheduler, paged KV cache, prefill/decode disaggregation and SLO targets.
// Schema: docs/schema-scenario.md ("serving"); what is modelled: docs/serving.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/json_reader.hpp"

namespace moesim::config {

enum class ArrivalKind { Poisson, Constant, ClosedLoop, Trace };
std::string to_string(ArrivalKind kind);

// A request read from a JSONL trace file (one JSON object per line).
struct TraceRequest {
  double arrival_s = 0;
  int prompt_tokens = 0;
  int output_tokens = 0;
  int line = 0;  // in the trace file, for messages
};

struct ArrivalSpec {
  ArrivalKind kind = ArrivalKind::Poisson;
  double rate_per_s = 0;            // poisson, constant
  int users = 0;                    // closed_loop: concurrent users, each sends its next request when the last finishes
  double think_time_s = 0;          // closed_loop: pause between a response and the user's next request
  std::string trace_file;           // trace: path as resolved against the scenario file
  std::vector<TraceRequest> trace;  // trace: the requests, in file order (sorted by arrival when used)
};

enum class LengthKind { Fixed, Uniform, Normal, Lognormal };
std::string to_string(LengthKind kind);

// A token-count distribution. Draws are rounded to the nearest integer and clipped to [min, max] (normal and
// lognormal; uniform draws integers in [min, max]; docs/serving.md).
struct LengthDistribution {
  LengthKind kind = LengthKind::Fixed;
  int value = 0;      // fixed
  double mean = 0;    // normal, lognormal: of the token count itself (not of its logarithm)
  double stddev = 0;  // normal, lognormal
  int min = 1;        // uniform, normal, lognormal (clip)
  int max = 0;        // uniform, normal, lognormal (clip)
  int upper_bound() const { return kind == LengthKind::Fixed ? value : max; }
};

struct ServingWorkload {
  ArrivalSpec arrival;
  LengthDistribution prompt_tokens;  // unused for traces
  LengthDistribution output_tokens;  // unused for traces
  std::optional<int> requests;       // stop after this many requests...
  std::optional<double> duration_s;  // ...or at the first arrival after this time (either or both)
};

struct SchedulerConfig {
  int max_batch = 256;             // running sequences per instance
  int max_tokens_per_step = 8192;  // tokens per step per instance (prefill tokens + one per decoding sequence)
  bool chunked_prefill = false;    // mix prefill chunks into decode steps (Sarathi-Serve / vLLM chunked prefill)
};

struct KvCacheConfig {
  int block_tokens = 128;                       // tokens per paged block
  std::optional<SourcedValue> workspace_bytes;  // per rank, replaces the estimate (docs/serving.md)
};

struct DisaggregationConfig {
  int prefill_instances = 1;  // the others decode
};

struct SloTargets {
  double ttft_s = 0;  // 0 = no target
  double tpot_s = 0;
};

// Optional profile grids (docs/serving.md "Step cost"); empty = chosen from the workload and scheduler.
struct ProfileGrid {
  std::vector<int> decode_batches;
  std::vector<int> decode_kv_lens;
  std::vector<int> prefill_tokens;
};

struct ServingConfig {
  ServingWorkload workload;
  std::optional<int> instances;  // default: ranks / (ranks of one instance)
  SchedulerConfig scheduler;
  KvCacheConfig kv_cache;
  std::optional<DisaggregationConfig> disaggregation;
  SloTargets slo;
  ProfileGrid profile;
};

// Reads the `serving` object (pointer "/serving"); a trace file is loaded here (paths relative to `scenario_file`);
// its problems are reported with its own file name and line number.
ServingConfig read_serving(ObjectReader reader, const std::string& scenario_file);

// The resolved `serving` block for summary.json and `moesim check` (a trace is summarised, not copied).
nlohmann::json serving_resolved_json(const ServingConfig& serving);

// Reads a JSONL request trace: one object per line with `arrival_s` (>= 0), `prompt_tokens` and `output_tokens`
// (integers >= 1); blank lines are skipped. Throws ConfigError naming the file and every bad line.
std::vector<TraceRequest> load_request_trace(const std::string& path);

}  // namespace moesim::config

#pragma once
// Runs the built moesim binary from the repository root and captures its exit code and output.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CliResult run_moesim(const std::vector<std::string>& args);
std::string read_text_file(const std::string& path);

// `moesim run SCENARIO --out DIR --quiet` with one --set per entry of `sets`; REQUIREs exit 0; returns
// DIR/summary.json (DIR is kept: callers read its other files and remove it).
nlohmann::json run_scenario_into(const std::string& dir, const std::string& scenario,
                                 const std::vector<std::string>& sets = {});
// The same into a temporary folder named after `tag` and the process id, removed afterwards.
nlohmann::json run_scenario(const std::string& scenario, const std::vector<std::string>& sets, const std::string& tag);

#pragma once
// Runs the built moesim binary from the repository root and captures its exit code and output.
#include <string>
#include <vector>

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CliResult run_moesim(const std::vector<std::string>& args);
std::string read_text_file(const std::string& path);

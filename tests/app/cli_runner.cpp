#include "cli_runner.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

CliResult run_moesim(const std::vector<std::string>& args) {
  std::string stem = "/tmp/moesim_cli_";
  stem += std::to_string(getpid());
  // Built with += only: GCC 12 warns falsely (-Wrestrict, bug 105329) on "literal" + std::string temporaries.
  std::string command = "cd ";
  command += shell_quote(MOESIM_SOURCE_DIR);
  command += " && ";
  command += shell_quote(MOESIM_BINARY);
  for (const auto& arg : args) {
    command += ' ';
    command += shell_quote(arg);
  }
  command += " >";
  command += stem;
  command += ".out 2>";
  command += stem;
  command += ".err";
  const int status = std::system(command.c_str());
  CliResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_text_file(stem + ".out");
  result.err = read_text_file(stem + ".err");
  std::remove((stem + ".out").c_str());
  std::remove((stem + ".err").c_str());
  return result;
}

nlohmann::json run_scenario_into(const std::string& dir, const std::string& scenario,
                                 const std::vector<std::string>& sets) {
  std::vector<std::string> args = {"run", scenario, "--out", dir, "--quiet"};
  for (const auto& set : sets) {
    args.push_back("--set");
    args.push_back(set);
  }
  const auto result = run_moesim(args);
  INFO(scenario << "\n" << result.err);
  REQUIRE(result.exit_code == 0);
  return nlohmann::json::parse(read_text_file(dir + "/summary.json"));
}

nlohmann::json run_scenario(const std::string& scenario, const std::vector<std::string>& sets, const std::string& tag) {
  std::string name = "moesim_run_";
  name += tag;
  name += "_";
  name += std::to_string(getpid());
  const auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  auto summary = run_scenario_into(dir.string(), scenario, sets);
  std::filesystem::remove_all(dir);
  return summary;
}

// `moesim validate`: runs every scenario that carries a `published` block and compares the simulated metric with
// the published value. One simulation per process (SimGrid cannot run twice in a process): each scenario is run
// by re-executing this binary (`/proc/self/exe run FILE --out TMP --quiet`) and reading TMP/summary.json.
// Accuracy is a result, not an error: the exit code is 0 whenever every scenario ran (docs/validation.md).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "app/commands.hpp"
#include "app/errors.hpp"
#include "app/scenario_loading.hpp"
#include "config/config_error.hpp"

namespace moesim::app {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::vector<std::string> scenario_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& path : paths) {
    if (fs::is_directory(path)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::recursive_directory_iterator(path)) {
        if (entry.is_regular_file() && entry.path().extension() == ".json") found.push_back(entry.path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(path)) {
      files.push_back(path);
    } else {
      throw std::invalid_argument(path + ": no such scenario file or folder");
    }
  }
  return files;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Starts `moesim run FILE --out DIR --quiet` in a child process (stdout/stderr to DIR/log); returns its pid.
pid_t start_child(const std::string& file, const fs::path& dir) {
  const std::string out = dir.string();
  const std::string log = (dir / "log").string();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    std::vector<std::string> args = {"moesim", "run", file, "--out", out, "--quiet"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for any started child; returns its pid and sets its exit code.
pid_t wait_child(int& exit_code) {
  int status = 0;
  const pid_t pid = waitpid(-1, &status, 0);
  if (pid < 0) throw std::runtime_error("waitpid failed");
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return pid;
}

// The last "moesim: error:" line of a child's log, for the row.
std::string child_error(const fs::path& dir) {
  const std::string log = read_all(dir / "log");
  const auto at = log.rfind("moesim: error: ");
  if (at == std::string::npos) return "run failed";
  const auto end = log.find('\n', at);
  return log.substr(at + 15, end == std::string::npos ? std::string::npos : end - at - 15);
}

// The row of one published figure of a scenario whose run ended with `code` (its summary.json in `work`).
json validate_row(const config::ScenarioConfig& scenario, const config::PublishedFigure& published,
                  const fs::path& work, int code, int& exit_code) {
  json row = {{"file", scenario.file},
              {"scenario", scenario.name},
              {"metric", published.metric},
              {"published", published.value},
              {"tolerance_rel", published.tolerance_rel},
              {"role", published.role},
              {"source", published.source}};
  if (code != kExitOk) {
    row["error"] = child_error(work);
    exit_code = std::max(exit_code, code == kExitBadInput ? kExitBadInput : kExitInternal);
    return row;
  }
  const json summary = json::parse(read_all(work / "summary.json"));
  const json& metrics = summary.at("metrics");
  if (!metrics.contains(published.metric) || !metrics[published.metric].is_number()) {
    row["error"] = "metric \"" + published.metric + "\" is not a number in summary.json \"metrics\"";
    exit_code = std::max(exit_code, kExitBadInput);
    return row;
  }
  const double predicted = metrics[published.metric].get<double>();
  const double relative = (predicted - published.value) / published.value;
  row["predicted"] = predicted;
  row["relative_error"] = relative;
  row["within_tolerance"] = std::isfinite(relative) && std::abs(relative) <= published.tolerance_rel;
  return row;
}

std::string table_text(const json& rows) {
  std::string out;
  char line[1024];
  int name_width = 34, metric_width = 20;  // columns widen to the longest scenario / metric name
  for (const auto& row : rows) {
    name_width = std::max(name_width, static_cast<int>(row["scenario"].get<std::string>().size()));
    metric_width = std::max(metric_width, static_cast<int>(row["metric"].get<std::string>().size()));
  }
  std::snprintf(line, sizeof line, "%-*s %-*s %-5s %12s %12s %9s %6s  %s\n", name_width, "scenario", metric_width,
                "metric", "role", "published", "predicted", "rel.err", "tol", "within");
  out += line;
  int within = 0;
  for (const auto& row : rows) {
    const std::string name = row["scenario"].get<std::string>();
    const std::string metric = row["metric"].get<std::string>();
    const std::string role = row["role"].get<std::string>();
    if (row.contains("error")) {
      std::snprintf(line, sizeof line, "%-*s %-*s %-5s %12.4g %12s %9s %5.0f%%  ERROR: %s\n", name_width, name.c_str(),
                    metric_width, metric.c_str(), role.c_str(), row["published"].get<double>(), "-", "-",
                    row["tolerance_rel"].get<double>() * 100, row["error"].get<std::string>().c_str());
    } else {
      const bool ok = row["within_tolerance"].get<bool>();
      within += ok ? 1 : 0;
      std::snprintf(line, sizeof line, "%-*s %-*s %-5s %12.4g %12.4g %+8.1f%% %5.0f%%  %s\n", name_width, name.c_str(),
                    metric_width, metric.c_str(), role.c_str(), row["published"].get<double>(),
                    row["predicted"].get<double>(), row["relative_error"].get<double>() * 100,
                    row["tolerance_rel"].get<double>() * 100, ok ? "yes" : "no");
    }
    out += line;
  }
  out += std::to_string(within) + " of " + std::to_string(rows.size()) +
         " figure(s) within tolerance (role fit: a factor was calibrated on that figure; check: independent)\n";
  return out;
}

}  // namespace

int validate_command(const ValidateOptions& options) {
  return guarded([&] {
    const auto paths = options.paths.empty() ? std::vector<std::string>{"scenarios/calibration"} : options.paths;
    std::vector<config::ScenarioConfig> scenarios;
    for (const auto& file : scenario_files(paths)) {
      auto scenario = load_checked_scenario(file, {});
      if (!scenario.published.empty()) scenarios.push_back(std::move(scenario));
    }
    if (scenarios.empty()) throw std::invalid_argument("no scenario with a \"published\" block in the given paths");
    if (options.jobs < 1) throw std::invalid_argument("--jobs: expected an integer >= 1");
    char dir_template[] = "/tmp/moesim_validate_XXXXXX";
    if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("cannot create a temporary folder in /tmp");
    const fs::path root = dir_template;
    // Up to `jobs` runs at once (each is its own process); rows keep the scenario order, then the figure order.
    std::vector<std::vector<json>> rows_by_index(scenarios.size());
    std::map<pid_t, std::size_t> running;
    int exit_code = kExitOk;
    std::size_t next = 0;
    while (next < scenarios.size() || !running.empty()) {
      while (next < scenarios.size() && static_cast<int>(running.size()) < options.jobs) {
        const fs::path work = root / std::to_string(next);
        fs::create_directories(work);
        running[start_child(scenarios[next].file, work)] = next;
        ++next;
      }
      int code = 0;
      const pid_t done = wait_child(code);
      const auto it = running.find(done);
      if (it == running.end()) continue;
      const std::size_t i = it->second;
      running.erase(it);
      for (const auto& figure : scenarios[i].published) {
        rows_by_index[i].push_back(validate_row(scenarios[i], figure, root / std::to_string(i), code, exit_code));
      }
    }
    json rows = json::array();
    for (auto& scenario_rows : rows_by_index) {
      for (auto& row : scenario_rows) rows.push_back(std::move(row));
    }
    std::error_code ignored;
    fs::remove_all(root, ignored);
    std::cout << (options.json ? rows.dump(2) + "\n" : table_text(rows));
    return exit_code;
  });
}

}  // namespace moesim::app

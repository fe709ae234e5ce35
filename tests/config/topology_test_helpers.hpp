#pragma once
// Helpers shared by the topology and device-file config tests.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/topology_config.hpp"

namespace moesim::test {

inline std::string repo_path(const std::string& relative) { return std::string(MOESIM_SOURCE_DIR) + "/" + relative; }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Loads a topology file that must fail and returns its issues.
inline std::vector<config::ConfigIssue> topology_load_issues(const std::string& path) {
  try {
    config::load_topology(path);
  } catch (const config::ConfigError& error) {
    return error.issues();
  }
  FAIL("expected a ConfigError from " << path);
  return {};
}

}  // namespace moesim::test

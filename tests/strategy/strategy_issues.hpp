#pragma once
// What validate_strategies reports for a scenario, and a lookup by JSON pointer and message text.
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "config/scenario_config.hpp"
#include "strategy/catalog.hpp"

namespace moesim::test {

inline std::vector<config::ConfigIssue> strategy_issues(const config::ScenarioConfig& scenario) {
  config::IssueCollector issues(scenario.file);
  strategy::validate_strategies(scenario, issues);
  try {
    issues.throw_if_any();
  } catch (const config::ConfigError& error) {
    return error.issues();
  }
  return {};
}

// The same issues as one string: the ConfigError message (empty when there is none), for substring checks.
inline std::string strategy_issues_text(const config::ScenarioConfig& scenario) {
  config::IssueCollector issues(scenario.file);
  strategy::validate_strategies(scenario, issues);
  try {
    issues.throw_if_any();
  } catch (const config::ConfigError& error) {
    return error.what();
  }
  return "";
}

inline bool has_issue(const std::vector<config::ConfigIssue>& issues, const std::string& pointer,
                      const std::string& text) {
  for (const auto& issue : issues) {
    if (issue.pointer == pointer && issue.message.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace moesim::test

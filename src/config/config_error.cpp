#include "config/config_error.hpp"

namespace moesim::config {

std::string ConfigIssue::to_string() const {
  return file + ": " + (pointer.empty() ? std::string("/") : pointer) + ": " + message;
}

static std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string text;
  for (const auto& issue : issues) {
    if (!text.empty()) text += '\n';
    text += issue.to_string();
  }
  return text;
}

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(issues)), issues_(std::move(issues)) {}

void IssueCollector::error(const std::string& pointer, const std::string& message) {
  issues_.push_back({file_, pointer, message});
}

void IssueCollector::merge(const ConfigError& error) {
  issues_.insert(issues_.end(), error.issues().begin(), error.issues().end());
}

void IssueCollector::throw_if_any() const {
  if (!issues_.empty()) throw ConfigError(issues_);
}

}  // namespace moesim::config

#pragma once
// Errors a user can cause in an input file: each names the file, the JSON pointer and what was expected.
#include <stdexcept>
#include <string>
#include <vector>

namespace moesim::config {

struct ConfigIssue {
  std::string file;     // path as given by the user
  std::string pointer;  // RFC 6901 JSON pointer, "" for the whole document
  std::string message;  // what was expected (and what was found)
  std::string to_string() const;
};

// Thrown once per file (or per scenario) with every issue collected in it.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<ConfigIssue> issues);
  const std::vector<ConfigIssue>& issues() const { return issues_; }

 private:
  std::vector<ConfigIssue> issues_;
};

// Collects issues for one file; throw_if_any() raises them together.
class IssueCollector {
 public:
  explicit IssueCollector(std::string file) : file_(std::move(file)) {}
  void error(const std::string& pointer, const std::string& message);
  void merge(const ConfigError& error);
  bool empty() const { return issues_.empty(); }
  const std::string& file() const { return file_; }
  void throw_if_any() const;

 private:
  std::string file_;
  std::vector<ConfigIssue> issues_;
};

}  // namespace moesim::config

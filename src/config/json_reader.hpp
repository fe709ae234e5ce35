#pragma once
// Strict reading of JSON objects: every key read is recorded so that finish() reports unknown keys,
// every problem becomes a ConfigIssue (file + JSON pointer + what was expected), and reading goes on
// after a problem so that one run reports all issues of a file together.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config_error.hpp"

namespace moesim::config {

// Value constraints for numbers.
enum class Range { Any, Positive, NonNegative, Fraction /* 0 < x <= 1 */, AtLeastOne };

// A number with its provenance: {"value": x, "source": "..."} or {"value": x, "estimate": true, "reason": "..."}.
struct SourcedValue {
  double value = 0.0;
  std::string source;  // citation, or the reason when estimate is true
  bool estimate = false;
};

// Parses a JSON file; a missing file or a syntax error becomes an issue (with line and column).
std::optional<nlohmann::json> load_json_file(const std::string& path, IssueCollector& issues);

// A path given inside `referencing_file` (e.g. a scenario's "topology", a topology's "device_file"): absolute
// paths unchanged, relative ones resolved against the referencing file's folder.
std::string resolve_relative_path(const std::string& referencing_file, const std::string& reference);

// Escapes a key for use in a JSON pointer (RFC 6901).
std::string pointer_child(const std::string& pointer, const std::string& key);
std::string pointer_index(const std::string& pointer, std::size_t index);

class ObjectReader {
 public:
  // Reports an issue (and reads nothing) when `value` is not an object.
  ObjectReader(const nlohmann::json& value, std::string pointer, IssueCollector& issues);

  bool valid() const { return object_ != nullptr; }
  bool has(const std::string& key) const;
  const std::string& pointer() const { return pointer_; }
  std::string child(const std::string& key) const { return pointer_child(pointer_, key); }
  IssueCollector& issues() { return issues_; }

  // Required values. On a problem they report it and return a neutral fallback so reading continues.
  std::string string(const std::string& key);
  std::string choice(const std::string& key, const std::vector<std::string>& allowed);
  double number(const std::string& key, Range range = Range::Positive);
  std::int64_t integer(const std::string& key, Range range = Range::Positive);
  bool boolean(const std::string& key);
  SourcedValue sourced(const std::string& key, Range range = Range::Positive);
  ObjectReader object(const std::string& key);
  // The elements of a required array (each with its pointer); `min_size` elements at least.
  std::vector<std::pair<const nlohmann::json*, std::string>> array(const std::string& key, std::size_t min_size = 1);
  // Any JSON value, unchecked (e.g. strategy params, checked later by their owner).
  const nlohmann::json* raw(const std::string& key);

  // Optional values: absent -> nullopt (documented defaults live with the caller).
  std::optional<std::string> optional_string(const std::string& key);
  std::optional<std::string> optional_choice(const std::string& key, const std::vector<std::string>& allowed);
  std::optional<double> optional_number(const std::string& key, Range range = Range::Positive);
  std::optional<std::int64_t> optional_integer(const std::string& key, Range range = Range::Positive);
  std::optional<bool> optional_boolean(const std::string& key);
  std::optional<ObjectReader> optional_object(const std::string& key);
  std::optional<SourcedValue> optional_sourced(const std::string& key, Range range = Range::Positive);

  // Marks a key as known without reading it (e.g. free-form documentation keys).
  void allow(const std::string& key) { read_.insert(key); }
  // Reports every key present in the object that was never read or allowed.
  void finish();

 private:
  const nlohmann::json* find(const std::string& key, bool required);
  bool check_range(const std::string& key, double value, Range range, bool integer = false);

  const nlohmann::json* object_ = nullptr;
  std::string pointer_;
  IssueCollector& issues_;
  std::set<std::string> read_;
};

}  // namespace moesim::config

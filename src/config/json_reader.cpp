#include "config/json_reader.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace moesim::config {

using nlohmann::json;

namespace {

std::string type_name(const json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number_integer() || value.is_number_unsigned()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  return "an object";
}

std::string range_text(Range range, bool integer = false) {
  const std::string kind = integer ? "an integer" : "a number";
  switch (range) {
    case Range::Positive: return kind + " > 0";
    case Range::NonNegative: return kind + " >= 0";
    case Range::Fraction: return kind + " in (0, 1]";
    case Range::AtLeastOne: return kind + " >= 1";
    case Range::Any: return kind;
  }
  return kind;
}

std::string format_number(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

// Converts a byte offset into "line L, column C".
std::string position_text(const std::string& text, std::size_t byte) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace

std::optional<json> load_json_file(const std::string& path, IssueCollector& issues) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    issues.error("", "cannot open file (expected a readable JSON file)");
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  try {
    return json::parse(text);
  } catch (const json::parse_error& error) {
    std::string what = error.what();
    const auto colon = what.rfind(": ");
    const std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
    issues.error("", "malformed JSON at " + position_text(text, error.byte > 0 ? error.byte - 1 : 0) + ": " + detail);
    return std::nullopt;
  }
}

std::string resolve_relative_path(const std::string& referencing_file, const std::string& reference) {
  namespace fs = std::filesystem;
  const fs::path ref(reference);
  if (ref.is_absolute()) return ref.string();
  return (fs::path(referencing_file).parent_path() / ref).lexically_normal().string();
}

std::string pointer_child(const std::string& pointer, const std::string& key) {
  std::string escaped;
  for (char c : key) {
    if (c == '~') {
      escaped += "~0";
    } else if (c == '/') {
      escaped += "~1";
    } else {
      escaped += c;
    }
  }
  return pointer + "/" + escaped;
}

std::string pointer_index(const std::string& pointer, std::size_t index) {
  return pointer + "/" + std::to_string(index);
}

ObjectReader::ObjectReader(const json& value, std::string pointer, IssueCollector& issues)
    : pointer_(std::move(pointer)), issues_(issues) {
  if (value.is_object()) {
    object_ = &value;
  } else {
    issues_.error(pointer_, "expected an object, got " + type_name(value));
  }
}

bool ObjectReader::has(const std::string& key) const { return object_ != nullptr && object_->contains(key); }

const json* ObjectReader::find(const std::string& key, bool required) {
  read_.insert(key);
  if (object_ == nullptr) return nullptr;
  auto it = object_->find(key);
  if (it == object_->end()) {
    if (required) issues_.error(child(key), "missing required key");
    return nullptr;
  }
  return &*it;
}

bool ObjectReader::check_range(const std::string& key, double value, Range range, bool integer) {
  bool ok = std::isfinite(value);
  switch (range) {
    case Range::Positive: ok = ok && value > 0; break;
    case Range::NonNegative: ok = ok && value >= 0; break;
    case Range::Fraction: ok = ok && value > 0 && value <= 1; break;
    case Range::AtLeastOne: ok = ok && value >= 1; break;
    case Range::Any: break;
  }
  if (!ok) issues_.error(child(key), "expected " + range_text(range, integer) + ", got " + format_number(value));
  return ok;
}

std::string ObjectReader::string(const std::string& key) {
  if (valid() && !has(key)) {
    find(key, true);
    return "";
  }
  return optional_string(key).value_or("");
}

std::optional<std::string> ObjectReader::optional_string(const std::string& key) {
  const bool required = false;
  const json* value = find(key, required);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    issues_.error(child(key), "expected a string, got " + type_name(*value));
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::string ObjectReader::choice(const std::string& key, const std::vector<std::string>& allowed) {
  if (!has(key) && valid()) {
    find(key, true);
    return "";
  }
  return optional_choice(key, allowed).value_or("");
}

std::optional<std::string> ObjectReader::optional_choice(const std::string& key,
                                                         const std::vector<std::string>& allowed) {
  auto value = optional_string(key);
  if (!value) return std::nullopt;
  for (const auto& option : allowed) {
    if (*value == option) return value;
  }
  std::string list;
  for (const auto& option : allowed) list += (list.empty() ? "" : ", ") + ("\"" + option + "\"");
  issues_.error(child(key), "expected one of " + list + ", got \"" + *value + "\"");
  return std::nullopt;
}

double ObjectReader::number(const std::string& key, Range range) {
  if (valid() && !has(key)) {
    find(key, true);
    return 0.0;
  }
  return optional_number(key, range).value_or(0.0);
}

std::optional<double> ObjectReader::optional_number(const std::string& key, Range range) {
  const json* value = find(key, false);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) {
    issues_.error(child(key), "expected " + range_text(range) + ", got " + type_name(*value));
    return std::nullopt;
  }
  const double number = value->get<double>();
  if (!check_range(key, number, range)) return std::nullopt;
  return number;
}

std::int64_t ObjectReader::integer(const std::string& key, Range range) {
  if (valid() && !has(key)) {
    find(key, true);
    return 0;
  }
  return optional_integer(key, range).value_or(0);
}

std::optional<std::int64_t> ObjectReader::optional_integer(const std::string& key, Range range) {
  const json* value = find(key, false);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer() && !value->is_number_unsigned()) {
    issues_.error(child(key), "expected " + range_text(range, true) + ", got " + type_name(*value));
    return std::nullopt;
  }
  const auto number = value->get<std::int64_t>();
  if (number > std::numeric_limits<int>::max()) {
    issues_.error(child(key), "expected " + range_text(range, true) + " below 2^31, got " + std::to_string(number));
    return std::nullopt;
  }
  if (!check_range(key, static_cast<double>(number), range, true)) return std::nullopt;
  return number;
}

bool ObjectReader::boolean(const std::string& key) {
  if (valid() && !has(key)) {
    find(key, true);
    return false;
  }
  return optional_boolean(key).value_or(false);
}

std::optional<bool> ObjectReader::optional_boolean(const std::string& key) {
  const json* value = find(key, false);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    issues_.error(child(key), "expected a boolean, got " + type_name(*value));
    return std::nullopt;
  }
  return value->get<bool>();
}

ObjectReader ObjectReader::object(const std::string& key) {
  static const json kEmptyObject = json::object();
  const json* value = find(key, true);
  if (value == nullptr) {
    // Missing key already reported: return a reader that reads nothing and reports nothing more.
    ObjectReader reader(kEmptyObject, child(key), issues_);
    reader.object_ = nullptr;
    return reader;
  }
  return ObjectReader(*value, child(key), issues_);
}

std::optional<ObjectReader> ObjectReader::optional_object(const std::string& key) {
  const json* value = find(key, false);
  if (value == nullptr) return std::nullopt;
  return ObjectReader(*value, child(key), issues_);
}

std::vector<std::pair<const json*, std::string>> ObjectReader::array(const std::string& key, std::size_t min_size) {
  std::vector<std::pair<const json*, std::string>> elements;
  const json* value = find(key, true);
  if (value == nullptr) return elements;
  if (!value->is_array()) {
    issues_.error(child(key), "expected an array, got " + type_name(*value));
    return elements;
  }
  if (value->size() < min_size) {
    issues_.error(child(key), "expected an array of at least " + std::to_string(min_size) + " element(s), got " +
                                  std::to_string(value->size()));
  }
  for (std::size_t i = 0; i < value->size(); ++i) elements.emplace_back(&(*value)[i], pointer_index(child(key), i));
  return elements;
}

const json* ObjectReader::raw(const std::string& key) { return find(key, false); }

SourcedValue ObjectReader::sourced(const std::string& key, Range range) {
  if (valid() && !has(key)) {
    find(key, true);
    return {};
  }
  return optional_sourced(key, range).value_or(SourcedValue{});
}

std::optional<SourcedValue> ObjectReader::optional_sourced(const std::string& key, Range range) {
  const json* value = find(key, false);
  if (value == nullptr) return std::nullopt;
  ObjectReader entry(*value, child(key), issues_);
  if (!entry.valid()) return std::nullopt;
  SourcedValue result;
  auto number = entry.optional_number("value", range);
  if (!entry.has("value")) entry.find("value", true);
  const bool estimate = entry.optional_boolean("estimate").value_or(false);
  result.estimate = estimate;
  if (estimate) {
    result.source = entry.string("reason");
    if (entry.has("source")) result.source = entry.string("source") + "; " + result.source;
  } else {
    if (!entry.has("source")) {
      issues_.error(entry.child("source"),
                    "missing required key (every number carries a source, or \"estimate\": true with a \"reason\")");
    }
    result.source = entry.optional_string("source").value_or("");
  }
  entry.finish();
  if (!number) return std::nullopt;
  result.value = *number;
  return result;
}

void ObjectReader::finish() {
  if (object_ == nullptr) return;
  for (const auto& item : object_->items()) {
    if (read_.count(item.key()) == 0) {
      std::string known;
      for (const auto& key : read_) known += (known.empty() ? "" : ", ") + key;
      issues_.error(child(item.key()),
                    known.empty() ? "unknown key (this object takes no keys)" : "unknown key (known keys here: " + known + ")");
    }
  }
}

}  // namespace moesim::config

// `--set path=value` overrides applied to a scenario document before validation.
#include <cctype>

#include "config/scenario_config.hpp"

namespace moesim::config {

using nlohmann::json;

namespace {

bool is_index(const std::string& part) {
  if (part.empty()) return false;
  for (char c : part) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string current;
  for (char c : path) {
    if (c == '.') {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  return parts;
}

json parse_value(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error&) {
    return text;  // not JSON: take it as a string (e.g. --set inference.phase=prefill)
  }
}

}  // namespace

void apply_overrides(json& document, const std::vector<std::string>& overrides, const std::string& file) {
  IssueCollector issues(file);
  for (const auto& override_text : overrides) {
    const auto equals = override_text.find('=');
    if (equals == std::string::npos || equals == 0) {
      issues.error("", "--set \"" + override_text + "\": expected path=value, e.g. parallel.tp=4");
      continue;
    }
    const auto parts = split_path(override_text.substr(0, equals));
    const json value = parse_value(override_text.substr(equals + 1));
    json* node = &document;
    std::string pointer;
    bool ok = true;
    for (std::size_t i = 0; i < parts.size() && ok; ++i) {
      const auto& part = parts[i];
      const bool last = i + 1 == parts.size();
      if (part.empty()) {
        issues.error(pointer, "--set \"" + override_text + "\": empty path component");
        ok = false;
      } else if (node->is_array()) {
        if (!is_index(part) || std::stoul(part) >= node->size()) {
          issues.error(pointer, "--set \"" + override_text + "\": expected an index below " +
                                    std::to_string(node->size()) + ", got \"" + part + "\"");
          ok = false;
          break;
        }
        pointer = pointer_index(pointer, std::stoul(part));
        node = &(*node)[std::stoul(part)];
        if (last) *node = value;
      } else if (node->is_object()) {
        pointer = pointer_child(pointer, part);
        if (last) {
          (*node)[part] = value;  // a new key is allowed here; strict validation rejects unknown ones
        } else {
          if (!node->contains(part)) (*node)[part] = json::object();
          node = &(*node)[part];
        }
      } else {
        issues.error(pointer, "--set \"" + override_text + "\": cannot descend into a non-object value");
        ok = false;
      }
    }
  }
  issues.throw_if_any();
}

}  // namespace moesim::config

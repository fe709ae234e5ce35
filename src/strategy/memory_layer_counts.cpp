#include "strategy/memory_layer_counts.hpp"

#include <algorithm>

namespace moesim::strategy {

using nlohmann::json;

// A checked layer-count param ("full_layers" / "recompute_layers") per (chunk, pipeline stage): an integer for
// every virtual stage, one per pipeline stage for each of its chunks, or MindFormers' 2-D list ([chunk][stage]);
// empty when absent.
model::LayerCounts layer_counts(const json& params, const char* key, const config::ParallelLayout& p) {
  const auto it = params.find(key);
  if (it == params.end()) return {};
  model::LayerCounts counts(static_cast<std::size_t>(p.vpp));
  for (int c = 0; c < p.vpp; ++c) {
    const bool two_d = it->is_array() && it->front().is_array();
    const json& row = two_d ? (*it)[static_cast<std::size_t>(c)] : *it;
    for (int s = 0; s < p.pp; ++s)
      counts[static_cast<std::size_t>(c)].push_back(
          (row.is_array() ? row[static_cast<std::size_t>(s)] : row).get<int>());
  }
  return counts;
}

// A report value: one count per pipeline stage where every chunk has the same, else the [chunk][stage] list.
json counts_json(const model::LayerCounts& counts) {
  return model::same_in_every_chunk(counts) ? json(counts.front()) : json(counts);
}

// "full_layers" / "recompute_layers": absent, an integer >= 0, a non-empty array of them (one per pipeline
// stage), or a non-empty array of such arrays (one per chunk: MindFormers' 2-D lists). The lengths are checked
// against pp and vpp by check_memory_strategy, which knows the layout.
void check_layer_count_param(config::ObjectReader& params, const char* key) {
  const json* value = params.raw(key);
  if (value == nullptr) return;
  const std::string expected =
      "expected an integer >= 0, an array of them (one per pipeline stage) or an array of such arrays (one per "
      "chunk, each one per pipeline stage)";
  auto is_count = [](const json& v) {
    return v.is_number_integer() && v.get<long long>() >= 0 && v.get<long long>() <= 1000000;
  };
  auto check_row = [&](const json& row, const std::string& pointer) {
    if (row.empty()) params.issues().error(pointer, "expected one integer >= 0 per pipeline stage, got an empty array");
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (!is_count(row[i])) params.issues().error(config::pointer_index(pointer, i), "expected an integer >= 0");
    }
  };
  if (!value->is_array()) {
    if (!is_count(*value)) params.issues().error(params.child(key), expected);
    return;
  }
  if (value->empty()) {
    params.issues().error(params.child(key), expected + ", got an empty array");
    return;
  }
  if (!value->front().is_array()) {
    check_row(*value, params.child(key));
    return;
  }
  for (std::size_t c = 0; c < value->size(); ++c) {
    const std::string pointer = config::pointer_index(params.child(key), c);
    if ((*value)[c].is_array()) {
      check_row((*value)[c], pointer);
    } else {
      params.issues().error(pointer, "expected an array of counts, one per pipeline stage (the first element is one)");
    }
  }
}

// Every integer of a layer-count param.
std::vector<long long> all_counts(const json& value) {
  std::vector<long long> out;
  if (!value.is_array()) return value.is_number_integer() ? std::vector<long long>{value.get<long long>()} : out;
  for (const auto& v : value) {
    for (long long n : all_counts(v)) out.push_back(n);
  }
  return out;
}

// The layout check of a layer-count param: one count per pipeline stage, or per chunk one row of those.
void check_layer_count_shape(const json& value, const config::ParallelLayout& p, const std::string& pointer,
                             config::IssueCollector& issues) {
  if (!value.is_array() || value.empty()) return;  // the params check reports those
  const std::string pp = "pp = " + std::to_string(p.pp);
  if (!value.front().is_array()) {
    if (value.size() != static_cast<std::size_t>(p.pp))
      issues.error(pointer, "expected one count per pipeline stage (" + pp + "), got " + std::to_string(value.size()));
    return;
  }
  if (value.size() != static_cast<std::size_t>(p.vpp)) {
    issues.error(pointer, "expected one row per chunk (vpp = " + std::to_string(p.vpp) + "), got " +
                              std::to_string(value.size()));
  }
  for (std::size_t c = 0; c < value.size(); ++c) {
    if (value[c].is_array() && value[c].size() != static_cast<std::size_t>(p.pp)) {
      issues.error(config::pointer_index(pointer, c),
                   "expected one count per pipeline stage (" + pp + "), got " + std::to_string(value[c].size()));
    }
  }
}

namespace {

// "[a, b, ...]" (one row), or "[[a, b], [c, d]]" (one row per chunk).
std::string counts_list(const model::LayerCounts& counts) {
  auto row_text = [](const std::vector<int>& row) {
    std::string list;
    for (int n : row) list += (list.empty() ? "" : ", ") + std::to_string(n);
    return "[" + list + "]";
  };
  if (model::same_in_every_chunk(counts)) return row_text(counts.front());
  std::string rows;
  for (const auto& row : counts) rows += (rows.empty() ? "" : ", ") + row_text(row);
  return "[" + rows + "]";
}

// How a count list is read: "" when one number says it all, else by stage or by chunk and stage.
std::string counts_by(const model::LayerCounts& counts) {
  return model::same_in_every_chunk(counts) ? ", by pipeline stage" : ", by chunk and pipeline stage";
}

// The single count of every virtual stage, or -1.
int single_count(const model::LayerCounts& counts) {
  const int first = counts.front().front();
  for (const auto& row : counts) {
    if (std::any_of(row.begin(), row.end(), [&](int n) { return n != first; })) return -1;
  }
  return first;
}

// " (first N layers per virtual stage)" or " (first [a, b, ...] layers per virtual stage, by pipeline stage)" (or
// by chunk and pipeline stage); "" without counts.
}  // namespace

std::string counts_text(const model::LayerCounts& counts) {
  if (counts.empty()) return "";
  if (const int n = single_count(counts); n >= 0) {
    return " (first " + std::to_string(n) + (n == 1 ? " layer" : " layers") + " per virtual stage)";
  }
  return " (first " + counts_list(counts) + " layers per virtual stage" + counts_by(counts) + ")";
}

// " (uniform groups of N layers)" or " (uniform groups of [a, b, ...] layers, by pipeline stage)".
std::string groups_text(const model::LayerCounts& sizes) {
  if (const int n = single_count(sizes); n >= 0)
    return " (uniform groups of " + std::to_string(n) + (n == 1 ? " layer)" : " layers)");
  return " (uniform groups of " + counts_list(sizes) + " layers" + counts_by(sizes) + ")";
}

}  // namespace moesim::strategy

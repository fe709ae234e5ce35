#pragma once
// The layer counts of the memory strategy (strategy/memory_selective_recompute_swap: "full_layers",
// "recompute_layers"): one count for every virtual stage, one per pipeline stage, or MindFormers' 2-D
// [chunk][stage] lists; their params checks, their resolution into model::LayerCounts, and how they are reported.
// docs/training.md ("Selective recompute and swap", "Layer counts").
#include <nlohmann/json.hpp>
#include <string>

#include "config/config_error.hpp"
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/activation_plan.hpp"

namespace moesim::strategy {

// The params check of one count key: absent, an integer >= 0, a non-empty array of them (one per pipeline stage),
// or a non-empty array of such arrays (one per chunk). The lengths are checked by check_layer_count_shape.
void check_layer_count_param(config::ObjectReader& params, const char* key);
// The layout check of a count value: pp counts, or vpp rows of pp counts.
void check_layer_count_shape(const nlohmann::json& value, const config::ParallelLayout& p, const std::string& pointer,
                             config::IssueCollector& issues);
// Every integer of a count value.
std::vector<long long> all_counts(const nlohmann::json& value);
// The checked count `key` of `params` per (chunk, stage); empty when absent.
model::LayerCounts layer_counts(const nlohmann::json& params, const char* key, const config::ParallelLayout& p);
// A report value: one count per pipeline stage where every chunk has the same, else the [chunk][stage] list.
nlohmann::json counts_json(const model::LayerCounts& counts);
// " (first N layers per virtual stage)", " (first [a, b] layers per virtual stage, by pipeline stage)" or by chunk
// and pipeline stage; "" without counts.
std::string counts_text(const model::LayerCounts& counts);
// " (uniform groups of N layers)" or the list as above.
std::string groups_text(const model::LayerCounts& sizes);

}  // namespace moesim::strategy

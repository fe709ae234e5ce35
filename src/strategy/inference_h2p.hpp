#pragma once
// H2P hierarchical hybrid parallelism for MoE inference ([P] §4.2.1 and Fig. 4; facts section 5): attention
// DP x TP, routed experts TP x EP and shared experts TP over all ranks, with AllGather after the norm,
// ReduceScatter instead of AllReduce, and a global AllGather / ReduceScatter around the expert block.
// Scenario: {"name": "h2p", "params": {"shared_expert_tp": 8, "allgather_after_norm": true}}.
#include <nlohmann/json.hpp>

#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/inference_step_graph.hpp"
#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kH2PName = "h2p";
inline constexpr const char* kH2PDescription =
    "H2P hierarchical hybrid parallelism: attention DP x TP, routed experts TP x EP, shared experts TP; "
    "AllGather after the norm, ReduceScatter for AllReduce, global AllGather/ReduceScatter around the experts "
    "([P] arXiv 2505.21411 section 4.2.1)";

// Reads (validates) the params object and calls finish(): "shared_expert_tp" (integer >= 1, optional, default
// every rank of the instance), "allgather_after_norm" (boolean, optional, default true).
void check_h2p_params(config::ObjectReader& params);

// Checks the scenario's layout against H2P (inference only, pp = cp = 1, ep x expert_tp = tp x dp,
// shared_expert_tp dividing the ranks); reports into `issues` with the scenario's JSON pointers.
void check_h2p_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                      config::IssueCollector& issues);

// Sets `plan` to the H2P layout with the (already checked) params.
void apply_h2p(const config::ScenarioConfig& scenario, const nlohmann::json& params, model::InferenceStepPlan& plan);

}  // namespace moesim::strategy

#pragma once
// Family "inference_moe_dispatch", strategy "ep_alltoall": MoE dispatch and combine as all-to-alls over the
// instance's expert-parallel ranks instead of H2P's global AllGather / ReduceScatter: each rank routes its own
// token shard, sends each token-expert row only to the rank owning the expert and gets the results back; shared
// experts run on the rank's own tokens. The large-EP decode layout of DeepSeek-V3 and CloudMatrix-Infer (attention
// DP, EP over every die; facts C5: dispatch 116 / 152 us at EP 8 / 256, combine 118 us at EP 8).
#include <nlohmann/json.hpp>

#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/inference_step_graph.hpp"
#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kEpAllToAllName = "ep_alltoall";
inline constexpr const char* kEpAllToAllDescription =
    "EP all-to-all dispatch/combine for MoE inference: each rank's token-expert rows go only to the experts' "
    "ranks and back, shared experts on the rank's own tokens (DeepSeek-V3 / CloudMatrix-Infer large-EP decode)";

// Needs an inference MoE scenario with h2p (its attention DP x TP layout; shared_expert_tp 1 or unset; h2p checks
// ep x expert_tp = tp x dp), expert_tp 1, and no duo_stream (its chunks split the AllGather this
// replaces).
void check_ep_alltoall_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                              config::IssueCollector& issues);

void apply_ep_alltoall(const config::ScenarioConfig& scenario, const nlohmann::json& params,
                       model::InferenceStepPlan& plan);

}  // namespace moesim::strategy

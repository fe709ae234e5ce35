#pragma once
// FlashComm (facts 3.3 C8, press: +22-26% inference throughput): each TP AllReduce becomes a ReduceScatter and an
// AllGather fused with their neighbours: the norm (and the other per-token work between them) runs on each rank's
// 1/tp token shard, and optionally the AllGather carries INT8 activations quantised before it (W8A8: the next GEMM
// is INT8 anyway). Attention dp 1 (with dp > 1 use h2p, which includes it). Under h2p only the INT8 option acts.
// Scenario: {"name": "flashcomm", "params": {"int8_allgather": true}}.
#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kFlashCommName = "flashcomm";
inline constexpr const char* kFlashCommDescription =
    "FlashComm: TP AllReduce -> ReduceScatter + AllGather with the norm on the token shard, optional INT8 "
    "AllGather payloads (Huawei press 2025-05-22, facts 3.3 C8)";

// "int8_allgather" (boolean, default false).
void check_flashcomm_params(config::ObjectReader& params);
void check_flashcomm_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                            config::IssueCollector& issues);
void apply_flashcomm(const config::ScenarioConfig& scenario, const nlohmann::json& params,
                     model::InferenceStepPlan& plan);

// Shared with topocomm: INT8 payloads need INT8 GEMMs (weights and activations INT8).
void check_int8_payload(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                        config::IssueCollector& issues);

}  // namespace moesim::strategy

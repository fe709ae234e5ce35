#pragma once
// TopoComm (press, facts 3.3 P14 / section 5: -35% synchronisations, +21% effective bandwidth, INT8/mixed payloads
// -25% data, AllGather -39%): topology-aware collectives. A collective whose group spans several tiers of the
// topology (the 300I Duo's PCIe CPU domains; nodes when the instance spans nodes) runs as one collective inside
// each tier and one between same-position peers of the tiers (AllGather: peers first, then the tier; ReduceScatter:
// the tier first, then peers), with one host launch; every stage uses one algorithm chosen per tier (default
// direct: one synchronisation instead of a ring's p-1). Optional INT8 AllGather payloads.
// Scenario: {"name": "topocomm", "params": {"algorithm": "direct", "tiered": true, "int8_allgather": false}}.
#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kTopoCommName = "topocomm";
inline constexpr const char* kTopoCommDescription =
    "TopoComm: collectives split per link tier (PCIe domain / node) with one synchronising algorithm per tier and "
    "optional INT8 AllGather payloads (Huawei press 2025-06-06, facts 3.1 P14)";

// "algorithm" ("direct" (default), "ring", "halving_doubling"), "tiered" (boolean, default true),
// "int8_allgather" (boolean, default false).
void check_topocomm_params(config::ObjectReader& params);
void check_topocomm_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                           config::IssueCollector& issues);
void apply_topocomm(const config::ScenarioConfig& scenario, const nlohmann::json& params,
                    model::InferenceStepPlan& plan);

// Ranks per tier of the scenario's topology: the ranks of a node when the instance spans nodes, else of a PCIe
// domain when the node's fabric is a pcie_tree with several domains; 0 when the instance sits in one tier.
int topology_tier_ranks(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy

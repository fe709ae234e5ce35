#pragma once
// Family "expert_balancing", strategy "balanced_moe": MindSpeed's dynamic EP load balancing ("数参互寻",
// docs/features/balanced_moe.md, --balanced-moe-experts --balanced-moe-hot-expert-num N; facts section 5, "dynamically
// balanced EP"): per MoE layer and micro-batch the N most loaded experts are broadcast from their owners to every
// EP rank after the router, every rank computes its own tokens' rows for them (those rows are not dispatched), and in
// the backward each rank's partial gradients of them return to the owner. Trades the hot experts' weights on the
// EP links for their tokens. docs/training.md ("Expert load").
#include "config/config_error.hpp"
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

inline constexpr const char* kBalancedMoeName = "balanced_moe";
inline constexpr const char* kBalancedMoeDescription =
    "dynamic EP load balancing: the N hottest experts of each layer broadcast to every EP rank, which computes its "
    "own tokens for them; their gradients reduced back (MindSpeed balanced-moe-experts)";

// {"hot_experts": N} (integer >= 1, default 3 as MindSpeed).
void check_balanced_moe_params(config::ObjectReader& params);
// Needs a training MoE scenario with an expert-parallel size above 1, expert_tp 1 and the flat all-to-all (MindSpeed:
// alltoall dispatcher only, no hierarchical all-to-allv, no expert tensor parallelism); N below the routed experts.
void check_balanced_moe_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                               config::IssueCollector& issues);
// The scenario's hot experts per layer: N with this strategy, else 0.
int hot_experts(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy

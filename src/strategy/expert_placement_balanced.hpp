#pragma once
// Family "expert_placement", strategy "balanced": each MoE layer's experts re-placed over the EP ranks so that the
// layer's expert load (training.expert_load) is as even as whole experts allow, every rank keeping experts / ep of
// them (greedy longest-processing-time, model/expert_load). The expert-balancing part of Pangu Ultra MoE's EDPB
// (facts section 5: predict per-expert load, migrate experts) and OmniPlacement's "rearrange" mode (omni-infer
// omni-eplb). Mode "static" (default): placed once from the first step's load. Mode "dynamic" (several steps):
// re-placed between steps from the previous step's load (EDPB's trend prediction, here the last step), the experts
// that change rank migrated (weights and optimizer state) before the next step's forward of their stage; no
// redundant experts. docs/training.md ("Expert load").
#include "config/config_error.hpp"
#include "config/scenario_config.hpp"
#include "model/expert_load.hpp"

namespace moesim::strategy {

inline constexpr const char* kBalancedPlacementName = "balanced";
inline constexpr const char* kBalancedPlacementDescription =
    "balanced expert placement: each MoE layer's experts re-placed so the EP ranks' loads are as even as whole "
    "experts allow; static, or dynamic: re-placed between steps from the last step's load, experts migrated when "
    "the gain pays for the transfer (EDPB expert balancing, Pangu Ultra MoE; OmniPlacement rearrange)";

// params: mode ("static" | "dynamic"), with dynamic interval_steps (integer >= 1, default 1), cost_aware (default
// true) and min_gain (relative, in [0, 1), default 0); redundant_per_rank (integer >= 0, default 0; inference with
// ep_alltoall: OmniPlacement's redundant experts, rank_shares_with_replicas in model/expert_load).
void check_balanced_placement_params(config::ObjectReader& params);
// Needs a training scenario of an MoE model with an expert-parallel size above 1; dynamic needs steps > 1.
void check_balanced_placement_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                     config::IssueCollector& issues);
// The scenario's expert placement: Balanced with this strategy, else Contiguous.
model::ExpertPlacement expert_placement(const config::ScenarioConfig& scenario);
// Inference: balanced's redundant_per_rank (0 without it).
int redundant_experts_per_rank(const config::ScenarioConfig& scenario);
// The placement over steps: the one above, dynamic with this strategy's mode "dynamic".
model::PlacementPolicy expert_placement_policy(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy

#pragma once
// Family "pipeline_balance", strategy "stage_balance": the pipeline part of Pangu Ultra MoE's EDPB ("rebalance
// layers across (V)PP stages", press 2025-06-03; facts section 5): before the step is built, the transformer layers
// are cut into pipeline positions so that the slowest stage's estimated compute per micro-batch is as small as
// contiguous cuts allow, counting the embedding on the first position and the LM head, loss and MTP modules on the
// last. The result is written into parallel.layers_per_virtual_stage, so every later part of the run (memory model,
// schedule, summary.json) sees the chosen counts. docs/training.md ("Stage balance").
#include <vector>

#include "config/config_error.hpp"
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

inline constexpr const char* kStageBalanceName = "stage_balance";
inline constexpr const char* kStageBalanceDescription =
    "layers cut into pipeline positions to even the stages' estimated time per micro-batch, the embedding, LM head "
    "and MTP modules counted (EDPB pipeline balancing, Pangu Ultra MoE; MindSpeed --num-layer-list)";

void check_stage_balance_params(config::ObjectReader& params);  // no params
// Needs a training scenario with pp > 1 and a device whose ops can be timed. The scenario's own cut (its
// layers_per_virtual_stage or padding_layers) is where the search starts.
void check_stage_balance_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                config::IssueCollector& issues);

struct StageBalance {
  std::vector<int> layers_per_position;        // pipeline-position order, as parallel.layers_per_virtual_stage
  std::vector<int> start_layers_per_position;  // the scenario's own cut
  std::vector<double> stage_time_s;            // estimated forward + backward time of one micro-batch, per stage
  std::vector<double> start_stage_time_s;      // the same for the scenario's own cut
  double estimate_s = 0.0;                     // makespan of the compact timeline (below) with the chosen cut
  double start_estimate_s = 0.0;               // the same with the scenario's own cut
};

// Contract: a contiguous cut (>= 0 layers per position, summing to the model's layers, MTP modules in the last
// position) whose score is no worse than the scenario's own cut (its layers_per_virtual_stage; its padded slots'
// cut; else the even split). Score, smallest first: the makespan of a compact timeline (each stage runs its
// schedule order on its compute stream; a forward waits for the previous position's forward, an input gradient for
// the next position's; no communication), then the sum of squared stage times, then the largest position time.
// Search: steepest descent, one layer moved from one position to another per round. Time of a slot = its forward,
// input-gradient and weight-gradient ops on one rank (block_time_estimates), the attention core at the step's mean
// document work (training.documents); EP collectives are left out when an overlap strategy hides them.
// Deterministic.
StageBalance balance_stages(const config::ScenarioConfig& scenario);

// When the scenario lists stage_balance: sets parallel.layers_per_virtual_stage to balance_stages()'s cut and
// padding_layers to 0.
void apply_stage_balance(config::ScenarioConfig& scenario);

}  // namespace moesim::strategy

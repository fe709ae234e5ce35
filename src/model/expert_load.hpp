#pragma once
// Expert load of a training step: per MoE layer, the share of the layer's token-expert rows that each expert-
// parallel (EP) rank's experts receive, from the scenario's training.expert_load (uniform, zipf or given shares)
// and the model's routing (MoGE renormalises within each group: each token takes top_k_per_group experts of every
// group, so a group always gets 1 / num_groups of the rows). Experts sit on EP ranks in contiguous blocks (expert e
// on rank e / (experts / ep), Megatron's layout); an EP rank's index is its position in its EP group. The step
// builder scales routed-expert compute by the rank's load factor and sends the dispatch / combine rows in
// proportion to the receiving rank's share. docs/training.md ("Expert load").
#include <vector>

#include "config/scenario_config.hpp"

namespace moesim::model {

struct ExpertLoad {
  int ep_size = 1;
  // [model layer][EP index]: the rank's share of the layer's rows (sums to 1); empty for dense layers
  std::vector<std::vector<double>> rank_share;
  bool uniform() const;
  // ep_size x share: 1 = the balanced load; `layer` a model layer index (MTP modules: pass the last layer)
  double factor(int layer, int ep_index) const;
  double max_factor() const;  // over MoE layers and EP ranks (1 when uniform)
};

// Where each layer's experts sit (strategy family "expert_placement"): Contiguous = Megatron's blocks (expert e on
// EP rank e / (experts / ep)); Balanced = per layer, experts in falling share order each onto the least-loaded EP
// rank that still has a free slot (greedy longest-processing-time; every rank keeps experts / ep experts).
enum class ExpertPlacement { Contiguous, Balanced };

// Per-expert shares of one MoE layer (model layer index), before placement: sum 1.
std::vector<double> expert_shares(const config::ScenarioConfig& scenario, int layer);
// The EP rank of each expert of a layer with these shares.
std::vector<int> place_experts(const std::vector<double>& shares, int ep_size, ExpertPlacement placement);
ExpertLoad expert_load(const config::ScenarioConfig& scenario, ExpertPlacement placement = ExpertPlacement::Contiguous);

}  // namespace moesim::model

#pragma once
// Expert load of a training or inference step: per MoE layer, the share of the layer's token-expert rows that each
// expert-parallel (EP) rank's experts receive, from the scenario's training.expert_load or inference.expert_load
// (uniform, zipf or given shares)
// and the model's routing (MoGE renormalises within each group: each token takes top_k_per_group experts of every
// group, so a group always gets 1 / num_groups of the rows). Experts sit on EP ranks in contiguous blocks (expert e
// on rank e / (experts / ep), Megatron's layout); an EP rank's index is its position in its EP group. The step
// builder scales routed-expert compute by the rank's load factor and sends the dispatch / combine rows in
// proportion to the receiving rank's share; the inference step does the same per rank (docs/inference.md). docs/
// training.md ("Expert load").
#include <vector>

#include "config/scenario_config.hpp"

namespace moesim::model {

struct ExpertLoad {
  int ep_size = 1;
  // [model layer][EP index]: the share of the layer's rows the rank's experts receive from the other ranks (sums to
  // 1 without hot experts); empty for dense layers
  std::vector<std::vector<double>> rank_share;
  // Hot experts (strategy balanced_moe): per layer, the share of the rows that go to the `hot_experts` most loaded
  // experts, which every rank computes for its own tokens (so they never leave it), and the EP index of the owner
  // of each (hottest first), which broadcasts its weights
  int hot_experts = 0;
  std::vector<double> local_share;
  std::vector<std::vector<int>> hot_owner;
  bool uniform() const;
  // rows the rank computes over the balanced load (1 = balanced): ep_size x its received share + the local hot
  // share; `layer` a model layer index (MTP modules: pass the last layer)
  double factor(int layer, int ep_index) const;
  double receive_share(int layer, int ep_index) const;  // rank_share (uniform 1 / ep_size)
  int hot_owner_of(int layer, int k) const;  // EP index of the owner of the layer's k-th hot expert (0: hottest)
  double max_factor() const { return max_factor_; }  // over MoE layers and EP ranks (1 when uniform)
  double max_factor_ = 1.0;                          // set by expert_load()
};

// Where each layer's experts sit (strategy family "expert_placement"): Contiguous = Megatron's blocks (expert e on
// EP rank e / (experts / ep)); Balanced = per layer, experts in falling share order each onto the least-loaded EP
// rank that still has a free slot (greedy longest-processing-time; every rank keeps experts / ep experts).
enum class ExpertPlacement { Contiguous, Balanced };

// Per-expert shares of one MoE layer (model layer index) in a step, before placement: sum 1. With
// training.expert_load.drift_sigma > 0 each expert's share follows a seeded multiplicative (log-normal) random walk
// from step to step: share_s[e] ~ share_0[e] x exp(sigma x (z_1[e] + ... + z_s[e])), z standard normal.
std::vector<double> expert_shares(const config::ScenarioConfig& scenario, int layer, int step = 0);
// The EP rank of each expert of a layer with these shares.
std::vector<int> place_experts(const std::vector<double>& shares, int ep_size, ExpertPlacement placement);
// `hot_experts` > 0: per layer the most loaded experts (ties to the lower index) are computed where their tokens are.
// The load of the first step. Inference with expert_load.sampled: experts are placed on the expected shares and the
// step's rows follow a seeded draw of its batch tokens x top_k rows from them (MoGE: per group). `redundant_per_rank` >
// 0 (inference, OmniPlacement "redundant"): placed by rank_shares_with_replicas instead (hot_experts must be 0).
ExpertLoad expert_load(const config::ScenarioConfig& scenario, ExpertPlacement placement = ExpertPlacement::Contiguous,
                       int hot_experts = 0, int redundant_per_rank = 0);

// OmniPlacement's redundant experts (facts section 5): every EP rank gets `redundant_per_rank` extra expert slots;
// each extra slot goes to the expert with the largest share per copy (at most one copy per rank), an expert's rows
// split evenly over its copies (the dispatcher spreads them), and the copies are placed like whole experts
// (largest first onto the least-loaded rank with a free slot that holds no copy of it yet). Returns each EP rank's
// share of the layer's rows.
std::vector<double> rank_shares_with_replicas(const std::vector<double>& shares, int ep_size, int redundant_per_rank);
// The same in two parts: where each copy goes (placed on `shares`), then each EP rank's share of the rows under
// possibly other shares (a sampled step's), split evenly over an expert's copies.
struct ReplicaSlot {
  int expert = 0, copies = 1, rank = 0;
};
std::vector<ReplicaSlot> place_replicas(const std::vector<double>& shares, int ep_size, int redundant_per_rank);
std::vector<double> rank_shares_of_replicas(const std::vector<ReplicaSlot>& slots, const std::vector<double>& shares,
                                            int ep_size);

// Placement over consecutive steps (training.steps). Static: the first step's placement is kept. Dynamic (strategy
// balanced, mode dynamic; EDPB's expert part): at every `interval_steps`-th step a layer's experts are re-placed
// from the load observed in the previous step (the prediction is the last step's load) by rebalanced_by_swaps; the
// experts that change rank migrate before the step.
// A swap's worth in seconds (EDPB: migrate only when the predicted step-time gain exceeds the migration cost):
// the time a layer's hottest rank saves per step per unit of share it sheds, and the time to move one expert from
// EP index i to j (`move_s[i * ep + j]`). Empty `move_s`: no cost test.
struct SwapCosts {
  double seconds_per_share = 0.0;
  std::vector<double> move_s;
};

struct PlacementPolicy {
  ExpertPlacement placement = ExpertPlacement::Contiguous;
  bool dynamic = false;
  int interval_steps = 1;
  double min_gain = 0.0;
  SwapCosts costs;  // dynamic: a swap must also gain, over interval_steps steps, more time than its transfer takes
};

struct ExpertMove {
  int layer = 0;   // model layer
  int expert = 0;  // routed expert index in the layer
  int from = 0;    // EP index
  int to = 0;
};

struct ExpertLoadSteps {
  // One per step: the load every micro-batch of the step meets; with per-micro-batch loads (training.expert_load
  // sampled or micro_batch_sigma) their envelope, per layer and EP rank the largest share over the micro-batches
  // (what the memory model and the estimates take for each in-flight micro-batch; max_factor the largest
  // micro-batch's)
  std::vector<ExpertLoad> steps;
  // [step][micro-batch]: each micro-batch's own load, placed as its step; empty rows without per-micro-batch loads.
  // The step's observed load (what dynamic placement predicts from) is their mean.
  std::vector<std::vector<ExpertLoad>> micro_batches;
  const ExpertLoad& at(int step, int micro_batch) const;  // the micro-batch's load, else the step's
  std::vector<std::vector<ExpertMove>> moves;             // [step]: experts migrated before it (none before the first)
  const ExpertLoad& worst() const;                        // the step with the largest max factor (the first on ties)
  double max_factor() const { return worst().max_factor(); }
  std::size_t move_count() const;
};

// What one migrated expert carries from its old EP rank to its new one in each EP group: its bf16 (model dtype)
// weights and its ZeRO-1 optimizer shard (fp32 master, m, v: 12 bytes per parameter over the expert-DP group).
double migrated_bytes_per_expert(const config::ScenarioConfig& scenario);

ExpertLoadSteps expert_load_steps(const config::ScenarioConfig& scenario, const PlacementPolicy& policy,
                                  int hot_experts = 0);

// Incremental re-placement of one layer for a predicted load: swap an expert of the most loaded EP rank with one of
// the least loaded, the pair that lowers the hotter of the two the most, while that lowers it by at least `min_gain`
// of its load (relative; 0: any gain) and, with `costs.move_s`, while `steps` x the time it saves (the share the hot
// rank sheds x seconds_per_share) is at least the longer of its two transfers; every rank keeps its expert count.
// Few experts move when the load changes little.
std::vector<int> rebalanced_by_swaps(std::vector<int> where, const std::vector<double>& share, int ep_size,
                                     double min_gain, const SwapCosts& costs = {}, int steps = 1);

}  // namespace moesim::model

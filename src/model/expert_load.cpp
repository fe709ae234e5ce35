#include "model/expert_load.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "model/expert_share_draws.hpp"
#include "model/model_stats.hpp"
#include "model/training_blocks.hpp"

namespace moesim::model {

namespace {

// The scenario's expert-load spec: its training or inference workload's (the uniform default otherwise).
const config::ExpertLoadSpec& load_spec(const config::ScenarioConfig& scenario) {
  static const config::ExpertLoadSpec uniform;
  if (scenario.training) return scenario.training->expert_load;
  if (scenario.inference) return scenario.inference->expert_load;
  return uniform;
}

// Inference with expert_load.sampled: the layer's shares as the rows of this step's tokens drawn from the expected
// shares.
std::vector<double> sampled_shares(const config::ScenarioConfig& scenario, int layer,
                                   const std::vector<double>& expected) {
  const auto& w = *scenario.inference;
  const double tokens =
      w.phase == config::InferencePhase::Decode ? double(w.batch_size) : double(w.batch_size) * w.input_len;
  std::mt19937_64 rng(scenario.seed * 1000003ULL + static_cast<std::uint64_t>(layer) + 1ULL + 0xD1B54A32D192ED03ULL);
  return routed_draw(*scenario.model->moe, expected, tokens, rng, kInferenceCategoricalLimit);
}

// Training: micro-batch `micro_batch` of `step` (model layer `layer`): the step's shares times exp(micro_batch_sigma
// z) per expert (z seeded by seed, layer, step and micro-batch; MoGE renormalised per group), then with `sampled`
// the rows of the micro-batch's `tokens` in one EP group (micro_batch_tokens) drawn from those.
std::vector<double> micro_batch_shares(const config::ScenarioConfig& scenario, int layer, int step, int micro_batch,
                                       double tokens, std::vector<double> share) {
  const auto& moe = *scenario.model->moe;
  const auto& spec = load_spec(scenario);
  const auto salt = static_cast<std::uint64_t>(step) * 1000003ULL + static_cast<std::uint64_t>(micro_batch) + 1ULL;
  if (spec.micro_batch_sigma > 0.0) {
    const auto z = seeded_normals(share.size(), scenario.seed ^ (0xBF58476D1CE4E5B9ULL * salt), layer, 0);
    for (std::size_t e = 0; e < share.size(); ++e) share[e] *= std::exp(spec.micro_batch_sigma * z[e]);
    share = moge_renormalised(moe, normalised(std::move(share)));
  }
  if (!spec.sampled) return share;
  std::mt19937_64 rng(scenario.seed * 1000003ULL + static_cast<std::uint64_t>(layer) + 1ULL +
                      0x94D049BB133111EBULL * salt);
  return routed_draw(moe, share, tokens, rng, kTrainingCategoricalLimit);
}

// The tokens of one micro-batch that one EP group routes: ep_size ranks x the tokens each routes.
double micro_batch_tokens(const config::ScenarioConfig& scenario) {
  const auto shape = training_shape(scenario);
  return shape.ep_size * shape.tokens_moe();
}

}  // namespace

std::vector<double> expert_shares(const config::ScenarioConfig& scenario, int layer, int step) {
  const auto& moe = *scenario.model->moe;
  const int experts = moe.num_routed_experts;
  const auto& spec = load_spec(scenario);
  std::vector<double> share(static_cast<std::size_t>(experts), 1.0);
  switch (spec.distribution) {
    case config::ExpertLoadDistribution::Uniform:
      break;
    case config::ExpertLoadDistribution::Zipf: {
      const auto rank_of = seeded_permutation(experts, scenario.seed, layer);
      for (int r = 0; r < experts; ++r)
        share[static_cast<std::size_t>(rank_of[static_cast<std::size_t>(r)])] = std::pow(r + 1.0, -spec.exponent);
      break;
    }
    case config::ExpertLoadDistribution::Shares: {
      const std::size_t row =
          spec.shares.size() == 1 ? 0 : static_cast<std::size_t>(layer - scenario.model->num_dense_layers);
      share = spec.shares.at(row);
      break;
    }
  }
  share = normalised(std::move(share));
  if (spec.drift_sigma > 0.0 && step > 0) {
    std::vector<double> walk(share.size(), 0.0);
    for (int t = 1; t <= step; ++t) {
      const auto z = seeded_normals(share.size(), scenario.seed, layer, t);
      for (std::size_t e = 0; e < share.size(); ++e) walk[e] += z[e];
    }
    for (std::size_t e = 0; e < share.size(); ++e) share[e] *= std::exp(spec.drift_sigma * walk[e]);
    share = normalised(std::move(share));
  }
  return moge_renormalised(moe, std::move(share));
}

std::vector<int> place_experts(const std::vector<double>& shares, int ep_size, ExpertPlacement placement) {
  const auto experts = static_cast<int>(shares.size());
  const int per_rank = experts / ep_size;
  std::vector<int> rank(shares.size());
  if (placement == ExpertPlacement::Contiguous) {
    for (int e = 0; e < experts; ++e) rank[static_cast<std::size_t>(e)] = e / per_rank;
    return rank;
  }
  std::vector<int> order(shares.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return shares[static_cast<std::size_t>(a)] > shares[static_cast<std::size_t>(b)];
  });
  std::vector<double> load(static_cast<std::size_t>(ep_size), 0.0);
  std::vector<int> used(static_cast<std::size_t>(ep_size), 0);
  for (int e : order) {
    int best = -1;
    for (int r = 0; r < ep_size; ++r) {  // least loaded rank with a free slot; ties to the lowest index
      if (used[static_cast<std::size_t>(r)] == per_rank) continue;
      if (best < 0 || load[static_cast<std::size_t>(r)] < load[static_cast<std::size_t>(best)]) best = r;
    }
    rank[static_cast<std::size_t>(e)] = best;
    load[static_cast<std::size_t>(best)] += shares[static_cast<std::size_t>(e)];
    ++used[static_cast<std::size_t>(best)];
  }
  return rank;
}

namespace {

ExpertLoad empty_load(const config::ScenarioConfig& scenario, int hot_experts) {
  ExpertLoad load;
  const auto& model = *scenario.model;
  load.ep_size = scenario.parallel.expert_parallel_size();
  load.hot_experts = std::min(hot_experts, model.moe->num_routed_experts);
  const auto layers = static_cast<std::size_t>(model.num_layers);
  load.rank_share.resize(layers);
  load.local_share.assign(layers, 0.0);
  load.hot_owner.resize(layers);
  return load;
}

// One MoE layer's row of a step's load: its experts' shares where they are placed, the hot ones computed locally.
void fill_layer(ExpertLoad& load, int layer, const std::vector<double>& share, const std::vector<int>& where) {
  std::vector<char> hot(share.size(), 0);
  const auto l = static_cast<std::size_t>(layer);
  if (load.hot_experts > 0) {
    std::vector<int> order(share.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return share[static_cast<std::size_t>(a)] > share[static_cast<std::size_t>(b)];
    });
    for (int k = 0; k < load.hot_experts; ++k) {
      const auto e = static_cast<std::size_t>(order[static_cast<std::size_t>(k)]);
      hot[e] = 1;
      load.hot_owner[l].push_back(where[e]);
    }
  }
  load.rank_share[l].assign(static_cast<std::size_t>(load.ep_size), 0.0);
  for (std::size_t e = 0; e < share.size(); ++e) {
    if (hot[e]) {
      load.local_share[l] += share[e];
    } else {
      load.rank_share[l][static_cast<std::size_t>(where[e])] += share[e];
    }
  }
  for (std::size_t j = 0; j < load.rank_share[l].size(); ++j)
    load.max_factor_ = std::max(load.max_factor_, load.factor(layer, static_cast<int>(j)));
}

// Per layer and EP rank the largest share over the micro-batches (and the largest local hot share): the load the
// memory model and the estimates take for every in-flight micro-batch; its max factor is the largest micro-batch's.
// The hot experts' owners are the first micro-batch's (the memory model counts hot experts, not owners).
ExpertLoad envelope(const std::vector<ExpertLoad>& loads) {
  ExpertLoad out = loads.front();
  for (const auto& load : loads) {
    for (std::size_t l = 0; l < out.rank_share.size(); ++l) {
      for (std::size_t j = 0; j < out.rank_share[l].size(); ++j)
        out.rank_share[l][j] = std::max(out.rank_share[l][j], load.rank_share[l][j]);
      out.local_share[l] = std::max(out.local_share[l], load.local_share[l]);
    }
    out.max_factor_ = std::max(out.max_factor_, load.max_factor_);
  }
  return out;
}

}  // namespace

std::vector<int> rebalanced_by_swaps(std::vector<int> where, const std::vector<double>& share, int ep_size,
                                     double min_gain, const SwapCosts& costs, int steps) {
  const auto n = static_cast<std::size_t>(ep_size);
  std::vector<double> load(n, 0.0);
  for (std::size_t e = 0; e < share.size(); ++e) load[static_cast<std::size_t>(where[e])] += share[e];
  // each swap lowers the hotter side by at least min_gain of it, so the loop ends
  for (;;) {
    const auto a = static_cast<std::size_t>(std::max_element(load.begin(), load.end()) - load.begin());
    const auto b = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    if (load[b] >= load[a]) return where;      // even
    double best = load[a] * (1.0 - min_gain);  // the new max(load a, load b) must be below this
    if (min_gain == 0.0) best = load[a] * (1.0 - 1e-12);
    int best_x = -1, best_y = -1;
    for (std::size_t x = 0; x < share.size(); ++x) {
      if (static_cast<std::size_t>(where[x]) != a) continue;
      for (std::size_t y = 0; y < share.size(); ++y) {
        if (static_cast<std::size_t>(where[y]) != b) continue;
        const double d = share[x] - share[y];
        const double hotter = std::max(load[a] - d, load[b] + d);
        if (!costs.move_s.empty()) {
          const double transfer_s = std::max(costs.move_s[a * n + b], costs.move_s[b * n + a]);
          if (steps * (load[a] - hotter) * costs.seconds_per_share < transfer_s) continue;
        }
        if (hotter < best) {
          best = hotter;
          best_x = static_cast<int>(x);
          best_y = static_cast<int>(y);
        }
      }
    }
    if (best_x < 0) return where;
    const double d = share[static_cast<std::size_t>(best_x)] - share[static_cast<std::size_t>(best_y)];
    load[a] -= d;
    load[b] += d;
    std::swap(where[static_cast<std::size_t>(best_x)], where[static_cast<std::size_t>(best_y)]);
  }
}

ExpertLoad expert_load(const config::ScenarioConfig& scenario, ExpertPlacement placement, int hot_experts,
                       int redundant_per_rank) {
  const auto& model = *scenario.model;
  if (!model.moe || (!scenario.training && !scenario.inference)) return {};
  ExpertLoad load = empty_load(scenario, hot_experts);
  const bool sampled = scenario.inference && !scenario.training && load_spec(scenario).sampled;
  for (int layer = 0; layer < model.num_layers; ++layer) {
    if (!is_moe_layer(model, layer)) continue;
    // Placed on the expected shares; a sampled step's rows then follow its own draw.
    const auto expected = expert_shares(scenario, layer);
    const auto share = sampled ? sampled_shares(scenario, layer, expected) : expected;
    if (redundant_per_rank > 0) {
      const auto l = static_cast<std::size_t>(layer);
      load.rank_share[l] =
          rank_shares_of_replicas(place_replicas(expected, load.ep_size, redundant_per_rank), share, load.ep_size);
      for (int j = 0; j < load.ep_size; ++j) load.max_factor_ = std::max(load.max_factor_, load.factor(layer, j));
      continue;
    }
    fill_layer(load, layer, share, place_experts(expected, load.ep_size, placement));
  }
  return load;
}

double migrated_bytes_per_expert(const config::ScenarioConfig& scenario) {
  const auto& p = scenario.parallel;
  constexpr double kOptimizerStateBytesPerParam = 12.0;  // Adam: fp32 master weight and two moments
  const double expert_dp = double(p.tp) * p.cp * p.dp / (double(p.expert_parallel_size()) * p.expert_tp);
  return expert_params(*scenario.model) / p.expert_tp *
         (config::bytes_per_element(scenario.training->dtype) + kOptimizerStateBytesPerParam / expert_dp);
}

ExpertLoadSteps expert_load_steps(const config::ScenarioConfig& scenario, const PlacementPolicy& policy,
                                  int hot_experts) {
  ExpertLoadSteps out;
  const auto& model = *scenario.model;
  const int steps = scenario.training ? std::max(1, scenario.training->steps) : 1;
  out.moves.resize(static_cast<std::size_t>(steps));
  if (!model.moe || !scenario.training) {
    out.steps.resize(static_cast<std::size_t>(steps));
    return out;
  }
  out.steps.assign(static_cast<std::size_t>(steps), empty_load(scenario, hot_experts));
  const auto& spec = load_spec(scenario);
  const int micro_batches = spec.sampled || spec.micro_batch_sigma > 0.0 ? micro_batches_per_step(scenario) : 0;
  const double tokens = micro_batches > 0 ? micro_batch_tokens(scenario) : 0.0;
  out.micro_batches.assign(static_cast<std::size_t>(steps),
                           std::vector<ExpertLoad>(static_cast<std::size_t>(micro_batches), out.steps.front()));
  const int ep = out.steps.front().ep_size;
  for (int layer = 0; layer < model.num_layers; ++layer) {
    if (!is_moe_layer(model, layer)) continue;
    auto previous = expert_shares(scenario, layer, 0);
    auto where = place_experts(previous, ep, policy.placement);
    for (int step = 0; step < steps; ++step) {
      auto share = step == 0 ? previous : expert_shares(scenario, layer, step);
      if (step > 0 && policy.dynamic && step % policy.interval_steps == 0) {
        const auto proposed =
            rebalanced_by_swaps(where, previous, ep, policy.min_gain, policy.costs, policy.interval_steps);
        for (std::size_t e = 0; e < where.size(); ++e) {
          if (proposed[e] != where[e])
            out.moves[static_cast<std::size_t>(step)].push_back({layer, static_cast<int>(e), where[e], proposed[e]});
        }
        where = proposed;
      }
      if (micro_batches > 0) {  // each micro-batch its own load; what the step observes is their mean
        std::vector<double> observed(share.size(), 0.0);
        for (int k = 0; k < micro_batches; ++k) {
          const auto own = micro_batch_shares(scenario, layer, step, k, tokens, share);
          fill_layer(out.micro_batches[static_cast<std::size_t>(step)][static_cast<std::size_t>(k)], layer, own, where);
          for (std::size_t e = 0; e < own.size(); ++e) observed[e] += own[e] / micro_batches;
        }
        share = std::move(observed);
      }
      fill_layer(out.steps[static_cast<std::size_t>(step)], layer, share, where);
      previous = share;
    }
  }
  if (micro_batches > 0) {
    for (int step = 0; step < steps; ++step)
      out.steps[static_cast<std::size_t>(step)] = envelope(out.micro_batches[static_cast<std::size_t>(step)]);
  }
  return out;
}

const ExpertLoad& ExpertLoadSteps::at(int step, int micro_batch) const {
  const auto s = static_cast<std::size_t>(step);
  if (s < micro_batches.size() && micro_batch >= 0 && static_cast<std::size_t>(micro_batch) < micro_batches[s].size())
    return micro_batches[s][static_cast<std::size_t>(micro_batch)];
  return steps.at(s);
}

const ExpertLoad& ExpertLoadSteps::worst() const {
  std::size_t best = 0;
  for (std::size_t s = 1; s < steps.size(); ++s) {
    if (steps[s].max_factor() > steps[best].max_factor()) best = s;
  }
  return steps.at(best);
}

std::size_t ExpertLoadSteps::move_count() const {
  std::size_t n = 0;
  for (const auto& m : moves) n += m.size();
  return n;
}

bool ExpertLoad::uniform() const {
  return hot_experts == 0 && max_factor_ <= 1.0 + 1e-12;
}

double ExpertLoad::factor(int layer, int ep_index) const {
  if (layer < 0 || static_cast<std::size_t>(layer) >= rank_share.size()) return 1.0;
  const auto& row = rank_share[static_cast<std::size_t>(layer)];
  if (row.empty()) return 1.0;
  return ep_size * row.at(static_cast<std::size_t>(ep_index)) + local_share[static_cast<std::size_t>(layer)];
}

double ExpertLoad::receive_share(int layer, int ep_index) const {
  if (layer < 0 || static_cast<std::size_t>(layer) >= rank_share.size() ||
      rank_share[static_cast<std::size_t>(layer)].empty())
    return 1.0 / ep_size;
  return rank_share[static_cast<std::size_t>(layer)].at(static_cast<std::size_t>(ep_index));
}

int ExpertLoad::hot_owner_of(int layer, int k) const {
  return hot_owner.at(static_cast<std::size_t>(layer)).at(static_cast<std::size_t>(k));
}

}  // namespace moesim::model

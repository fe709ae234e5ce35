#include "model/expert_load.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "model/model_stats.hpp"

namespace moesim::model {

namespace {

// Fisher-Yates with the raw mt19937_64 stream (fully specified by the standard, so byte-identical everywhere).
std::vector<int> seeded_permutation(int n, std::uint64_t seed, int layer) {
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<std::uint64_t>(layer) + 1ULL);
  std::vector<int> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int i = n - 1; i > 0; --i) {
    const auto j = static_cast<int>(rng() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

// Standard normal draws for one (layer, step) of the drift walk: Box-Muller on the raw mt19937_64 stream (53-bit
// uniforms), so the values do not depend on the library's distribution implementation.
std::vector<double> seeded_normals(std::size_t n, std::uint64_t seed, int layer, int step) {
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<std::uint64_t>(layer) + 1ULL +
                      0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(step));
  const auto uniform = [&rng] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
  constexpr double kTwoPi = 6.283185307179586;
  std::vector<double> z(n);
  for (std::size_t i = 0; i < n; i += 2) {
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = kTwoPi * uniform();
    z[i] = radius * std::cos(angle);
    if (i + 1 < n) z[i + 1] = radius * std::sin(angle);
  }
  return z;
}

// The scenario's expert-load spec: its training or inference workload's (the uniform default otherwise).
const config::ExpertLoadSpec& load_spec(const config::ScenarioConfig& scenario) {
  static const config::ExpertLoadSpec uniform;
  if (scenario.training) return scenario.training->expert_load;
  if (scenario.inference) return scenario.inference->expert_load;
  return uniform;
}

std::vector<double> normalised(std::vector<double> v) {
  const double sum = std::accumulate(v.begin(), v.end(), 0.0);
  for (double& x : v) x = sum > 0.0 ? x / sum : 1.0 / static_cast<double>(v.size());
  return v;
}

// `rows` rows drawn from the probabilities p (sum 1): categorical draws on the raw mt19937_64 stream up to 2^22 rows,
// beyond that each count's normal approximation N p + sqrt(N p (1 - p)) z (clamped at 0). Returns the shares.
std::vector<double> drawn_shares(const std::vector<double>& p, double rows, std::mt19937_64& rng) {
  const auto uniform = [&rng] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
  std::vector<double> count(p.size(), 0.0);
  constexpr double kCategoricalLimit = 4194304.0;
  if (rows <= kCategoricalLimit) {
    std::vector<double> cumulative(p.size());
    std::partial_sum(p.begin(), p.end(), cumulative.begin());
    for (long long r = 0; r < static_cast<long long>(rows); ++r) {
      const double u = uniform() * cumulative.back();
      const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
      count[static_cast<std::size_t>(std::min<std::ptrdiff_t>(it - cumulative.begin(),
                                                              static_cast<std::ptrdiff_t>(p.size()) - 1))] += 1.0;
    }
  } else {
    constexpr double kTwoPi = 6.283185307179586;
    for (std::size_t e = 0; e < p.size(); ++e) {
      const double z = std::sqrt(-2.0 * std::log(uniform())) * std::cos(kTwoPi * uniform());
      count[e] = std::max(0.0, rows * p[e] + std::sqrt(rows * p[e] * (1.0 - p[e])) * z);
    }
  }
  return normalised(std::move(count));
}

// Inference with expert_load.sampled: the layer's shares as the rows of this step's tokens drawn from the expected
// shares (MoGE: each group's top_k_per_group rows per token drawn within the group, which keeps 1 / groups each).
std::vector<double> sampled_shares(const config::ScenarioConfig& scenario, int layer, const std::vector<double>& expected) {
  const auto& moe = *scenario.model->moe;
  const auto& w = *scenario.inference;
  const double tokens = w.phase == config::InferencePhase::Decode ? double(w.batch_size)
                                                                  : double(w.batch_size) * w.input_len;
  std::mt19937_64 rng(scenario.seed * 1000003ULL + static_cast<std::uint64_t>(layer) + 1ULL + 0xD1B54A32D192ED03ULL);
  if (moe.routing != config::RoutingKind::MoGE || moe.num_groups <= 1) {
    return drawn_shares(expected, tokens * moe.top_k, rng);
  }
  const int per_group = moe.num_routed_experts / moe.num_groups;
  std::vector<double> out(expected.size());
  for (int g = 0; g < moe.num_groups; ++g) {
    const auto first = expected.begin() + g * per_group;
    const auto drawn = drawn_shares(normalised({first, first + per_group}), tokens * moe.top_k_per_group, rng);
    for (int e = 0; e < per_group; ++e)
      out[static_cast<std::size_t>(g * per_group + e)] = drawn[static_cast<std::size_t>(e)] / moe.num_groups;
  }
  return out;
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
  if (moe.routing == config::RoutingKind::MoGE && moe.num_groups > 1) {
    const int per_group = experts / moe.num_groups;
    for (int g = 0; g < moe.num_groups; ++g) {
      const auto first = share.begin() + g * per_group;
      std::vector<double> group(first, first + per_group);
      group = normalised(std::move(group));
      for (int e = 0; e < per_group; ++e)
        *(first + e) = group[static_cast<std::size_t>(e)] / static_cast<double>(moe.num_groups);
    }
  }
  return share;
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
    if (load[b] >= load[a]) return where;  // even
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
  const int ep = out.steps.front().ep_size;
  for (int layer = 0; layer < model.num_layers; ++layer) {
    if (!is_moe_layer(model, layer)) continue;
    auto previous = expert_shares(scenario, layer, 0);
    auto where = place_experts(previous, ep, policy.placement);
    for (int step = 0; step < steps; ++step) {
      const auto share = step == 0 ? previous : expert_shares(scenario, layer, step);
      if (step > 0 && policy.dynamic && step % policy.interval_steps == 0) {
        const auto proposed =
            rebalanced_by_swaps(where, previous, ep, policy.min_gain, policy.costs, policy.interval_steps);
        for (std::size_t e = 0; e < where.size(); ++e) {
          if (proposed[e] != where[e])
            out.moves[static_cast<std::size_t>(step)].push_back({layer, static_cast<int>(e), where[e], proposed[e]});
        }
        where = proposed;
      }
      fill_layer(out.steps[static_cast<std::size_t>(step)], layer, share, where);
      previous = share;
    }
  }
  return out;
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

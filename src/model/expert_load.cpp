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

std::vector<double> normalised(std::vector<double> v) {
  const double sum = std::accumulate(v.begin(), v.end(), 0.0);
  for (double& x : v) x = sum > 0.0 ? x / sum : 1.0 / static_cast<double>(v.size());
  return v;
}

}  // namespace

std::vector<double> expert_shares(const config::ScenarioConfig& scenario, int layer) {
  const auto& moe = *scenario.model->moe;
  const int experts = moe.num_routed_experts;
  const auto& spec = scenario.training->expert_load;
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

ExpertLoad expert_load(const config::ScenarioConfig& scenario, ExpertPlacement placement, int hot_experts) {
  ExpertLoad load;
  const auto& model = *scenario.model;
  if (!model.moe || !scenario.training) return load;
  load.ep_size = scenario.parallel.expert_parallel_size();
  load.hot_experts = std::min(hot_experts, model.moe->num_routed_experts);
  const auto layers = static_cast<std::size_t>(model.num_layers);
  load.rank_share.resize(layers);
  load.local_share.assign(layers, 0.0);
  load.hot_owner.resize(layers);
  for (int layer = 0; layer < model.num_layers; ++layer) {
    if (!is_moe_layer(model, layer)) continue;
    const auto share = expert_shares(scenario, layer);
    const auto where = place_experts(share, load.ep_size, placement);
    std::vector<char> hot(share.size(), 0);
    if (load.hot_experts > 0) {
      std::vector<int> order(share.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return share[static_cast<std::size_t>(a)] > share[static_cast<std::size_t>(b)];
      });
      for (int k = 0; k < load.hot_experts; ++k) {
        const auto e = static_cast<std::size_t>(order[static_cast<std::size_t>(k)]);
        hot[e] = 1;
        load.hot_owner[static_cast<std::size_t>(layer)].push_back(where[e]);
      }
    }
    const auto l = static_cast<std::size_t>(layer);
    load.rank_share[l].assign(static_cast<std::size_t>(load.ep_size), 0.0);
    for (std::size_t e = 0; e < share.size(); ++e) {
      const auto r = static_cast<std::size_t>(where[e]);
      if (hot[e]) {
        load.local_share[l] += share[e];
      } else {
        load.rank_share[l][r] += share[e];
      }
    }
    for (std::size_t j = 0; j < load.rank_share[l].size(); ++j)
      load.max_factor_ = std::max(load.max_factor_, load.factor(layer, static_cast<int>(j)));
  }
  return load;
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

#include "model/expert_share_draws.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moesim::model {

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

std::vector<double> normalised(std::vector<double> v) {
  const double sum = std::accumulate(v.begin(), v.end(), 0.0);
  for (double& x : v) x = sum > 0.0 ? x / sum : 1.0 / static_cast<double>(v.size());
  return v;
}

// `rows` rows drawn from the probabilities p (sum 1): categorical draws on the raw mt19937_64 stream up to
// `categorical_limit` rows, beyond that each count's normal approximation N p + sqrt(N p (1 - p)) z (clamped at 0).
// Returns the shares.
std::vector<double> drawn_shares(const std::vector<double>& p, double rows, std::mt19937_64& rng,
                                 double categorical_limit) {
  const auto uniform = [&rng] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
  std::vector<double> count(p.size(), 0.0);
  if (rows <= categorical_limit) {
    std::vector<double> cumulative(p.size());
    std::partial_sum(p.begin(), p.end(), cumulative.begin());
    for (long long r = 0; r < static_cast<long long>(rows); ++r) {
      const double u = uniform() * cumulative.back();
      const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
      count[static_cast<std::size_t>(
          std::min<std::ptrdiff_t>(it - cumulative.begin(), static_cast<std::ptrdiff_t>(p.size()) - 1))] += 1.0;
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

// The shares of `tokens` tokens' rows drawn from the expected shares (MoGE: each group's top_k_per_group rows per
// token drawn within the group, which keeps 1 / groups each).
std::vector<double> routed_draw(const config::MoeSpec& moe, const std::vector<double>& expected, double tokens,
                                std::mt19937_64& rng, double categorical_limit) {
  if (moe.routing != config::RoutingKind::MoGE || moe.num_groups <= 1) {
    return drawn_shares(expected, tokens * moe.top_k, rng, categorical_limit);
  }
  const int per_group = moe.num_routed_experts / moe.num_groups;
  std::vector<double> out(expected.size());
  for (int g = 0; g < moe.num_groups; ++g) {
    const auto first = expected.begin() + g * per_group;
    const auto drawn =
        drawn_shares(normalised({first, first + per_group}), tokens * moe.top_k_per_group, rng, categorical_limit);
    for (int e = 0; e < per_group; ++e)
      out[static_cast<std::size_t>(g * per_group + e)] = drawn[static_cast<std::size_t>(e)] / moe.num_groups;
  }
  return out;
}

// MoGE: shares renormalised inside each group to 1 / groups (each token takes top_k_per_group in every group).
std::vector<double> moge_renormalised(const config::MoeSpec& moe, std::vector<double> share) {
  if (moe.routing != config::RoutingKind::MoGE || moe.num_groups <= 1) return share;
  const int per_group = moe.num_routed_experts / moe.num_groups;
  for (int g = 0; g < moe.num_groups; ++g) {
    const auto first = share.begin() + g * per_group;
    std::vector<double> group(first, first + per_group);
    group = normalised(std::move(group));
    for (int e = 0; e < per_group; ++e)
      *(first + e) = group[static_cast<std::size_t>(e)] / static_cast<double>(moe.num_groups);
  }
  return share;
}

}  // namespace moesim::model

#pragma once
// Seeded draws and normalisation of expert shares (model/expert_load's building blocks): permutations and normals
// on the raw mt19937_64 stream (fully specified by the standard, so byte-identical everywhere), multinomial row
// draws, and MoGE's per-group renormalisation.
#include <cstdint>
#include <random>
#include <vector>

#include "config/model_config.hpp"

namespace moesim::model {

// Inference draws categorically up to 2^22 rows per layer; a training step draws per micro-batch (32-64 of them per
// layer, 10^5-10^6 rows each), where the normal approximation takes over at 2^16 rows (256 per expert at 256).
constexpr double kInferenceCategoricalLimit = 4194304.0;
constexpr double kTrainingCategoricalLimit = 65536.0;

// A seeded permutation of 0..n-1 for one layer (Fisher-Yates).
std::vector<int> seeded_permutation(int n, std::uint64_t seed, int layer);
// n standard normals for one (layer, step) (Box-Muller on 53-bit uniforms).
std::vector<double> seeded_normals(std::size_t n, std::uint64_t seed, int layer, int step);
// v / sum(v); uniform when the sum is 0.
std::vector<double> normalised(std::vector<double> v);
// The shares of `rows` rows drawn from the probabilities p (sum 1): categorical draws up to `categorical_limit`
// rows, beyond that each count's normal approximation.
std::vector<double> drawn_shares(const std::vector<double>& p, double rows, std::mt19937_64& rng,
                                 double categorical_limit);
// The shares of `tokens` tokens' rows (top_k each) drawn from the expected shares (MoGE: within each group).
std::vector<double> routed_draw(const config::MoeSpec& moe, const std::vector<double>& expected, double tokens,
                                std::mt19937_64& rng, double categorical_limit);
// MoGE: shares renormalised inside each group to 1 / groups; other routing unchanged.
std::vector<double> moge_renormalised(const config::MoeSpec& moe, std::vector<double> share);

}  // namespace moesim::model

// Expert load: per-expert shares (uniform, Zipf over a seeded permutation per layer, given shares), MoGE's group
// renormalisation, and the per-EP-rank shares of contiguous expert placement.
#include <catch2/catch.hpp>
#include <numeric>

#include "model/expert_load.hpp"
#include "training_fixtures.hpp"

using namespace moesim;

namespace {

// tiny MoE: 6 layers (layer 0 dense), 16 routed experts top-2; EP 4 -> 4 experts per rank
config::ScenarioConfig scenario(config::ExpertLoadSpec load, std::uint64_t seed = 1) {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 4);
  s.training->expert_load = std::move(load);
  s.seed = seed;
  return s;
}

config::ExpertLoadSpec zipf(double exponent) {
  config::ExpertLoadSpec spec;
  spec.distribution = config::ExpertLoadDistribution::Zipf;
  spec.exponent = exponent;
  return spec;
}

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

}  // namespace

TEST_CASE("uniform load: every expert 1/E, every EP rank factor 1") {
  const auto s = scenario({});
  const auto shares = model::expert_shares(s, 1);
  for (double x : shares) CHECK(x == Approx(1.0 / 16));
  const auto load = model::expert_load(s);
  CHECK(load.uniform());
  CHECK(load.max_factor() == Approx(1.0));
  CHECK(load.factor(0, 0) == 1.0);  // the dense layer
  CHECK(load.factor(3, 2) == Approx(1.0));
}

TEST_CASE("zipf load: shares r^-s over a seeded permutation, different per layer, same for the same seed") {
  const auto s = scenario(zipf(1.0));
  const auto a = model::expert_shares(s, 1);
  CHECK(sum(a) == Approx(1.0));
  std::vector<double> sorted = a;
  std::sort(sorted.rbegin(), sorted.rend());
  double h = 0.0;
  for (int r = 1; r <= 16; ++r) h += 1.0 / r;
  for (int r = 0; r < 16; ++r) CHECK(sorted[static_cast<std::size_t>(r)] == Approx(1.0 / (r + 1) / h));
  CHECK(model::expert_shares(s, 2) != a);                       // another layer, another permutation
  CHECK(model::expert_shares(scenario(zipf(1.0)), 1) == a);      // deterministic
  CHECK(model::expert_shares(scenario(zipf(1.0), 7), 1) != a);  // the seed matters
  const auto load = model::expert_load(s);
  CHECK_FALSE(load.uniform());
  CHECK(load.max_factor() > 1.2);
  for (int layer = 1; layer < 6; ++layer) {
    double f = 0.0;
    for (int j = 0; j < 4; ++j) f += load.factor(layer, j);
    CHECK(f == Approx(4.0));  // the factors of a layer average 1
  }
  // exponent 0: uniform
  CHECK(model::expert_load(scenario(zipf(0.0))).uniform());
}

TEST_CASE("given shares: normalised, contiguous placement sums each rank's block") {
  config::ExpertLoadSpec spec;
  spec.distribution = config::ExpertLoadDistribution::Shares;
  std::vector<double> row(16, 1.0);
  for (int e = 0; e < 4; ++e) row[static_cast<std::size_t>(e)] = 4.0;  // rank 0's experts: 4x as popular
  spec.shares = {row};
  const auto load = model::expert_load(scenario(spec));
  // rank 0: 16 / (16 + 12) of the rows; the others 4 / 28 each
  CHECK(load.factor(1, 0) == Approx(4.0 * 16.0 / 28.0));
  CHECK(load.factor(5, 3) == Approx(4.0 * 4.0 / 28.0));
  CHECK(load.max_factor() == Approx(4.0 * 16.0 / 28.0));
}

TEST_CASE("MoGE: each group keeps 1/M of the rows, so an EP rank holding whole groups is balanced") {
  auto s = scenario(zipf(1.0));
  s.model->moe->routing = config::RoutingKind::MoGE;
  s.model->moe->num_groups = 4;  // 4 groups of 4 experts = one group per EP rank
  s.model->moe->top_k_per_group = 1;
  s.model->moe->top_k = 4;
  const auto shares = model::expert_shares(s, 1);
  for (int g = 0; g < 4; ++g) {
    CHECK(std::accumulate(shares.begin() + 4 * g, shares.begin() + 4 * g + 4, 0.0) == Approx(0.25));
  }
  CHECK(model::expert_load(s).max_factor() == Approx(1.0));
  // two groups of 8 over 4 ranks: half a group per rank, the skew inside the group shows
  s.model->moe->num_groups = 2;
  s.model->moe->top_k_per_group = 2;
  CHECK(model::expert_load(s).max_factor() > 1.05);
}

TEST_CASE("balanced placement: every rank keeps experts / ep experts, the hottest rank is no hotter than contiguous") {
  const std::vector<double> shares{0.30, 0.20, 0.10, 0.10, 0.08, 0.07, 0.05, 0.04, 0.03, 0.01, 0.01, 0.01};
  const auto where = model::place_experts(shares, 3, model::ExpertPlacement::Balanced);
  std::vector<int> count(3, 0);
  std::vector<double> load(3, 0.0);
  for (std::size_t e = 0; e < shares.size(); ++e) {
    ++count[static_cast<std::size_t>(where[e])];
    load[static_cast<std::size_t>(where[e])] += shares[e];
  }
  CHECK(count == std::vector<int>{4, 4, 4});
  // greedy by falling share: 0.30 | 0.20 | 0.10, then the lightest with room each time
  CHECK(where[0] == 0);
  CHECK(where[1] == 1);
  CHECK(where[2] == 2);
  // by hand: 0.30 | 0.20 0.08 0.04 0.01 | 0.10 0.10 0.07 0.05, then 0.03 0.01 0.01 on rank 0 (contiguous: 0.70)
  CHECK(load[0] == Approx(0.35));
  CHECK(load[1] == Approx(0.33));
  CHECK(load[2] == Approx(0.32));
  const auto contiguous = model::place_experts(shares, 3, model::ExpertPlacement::Contiguous);
  CHECK(contiguous == std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});  // 0.70 on rank 0
  // on a Zipf load the balanced placement lowers the worst factor
  const auto s = scenario(zipf(1.0));
  CHECK(model::expert_load(s, model::ExpertPlacement::Balanced).max_factor() <
        model::expert_load(s, model::ExpertPlacement::Contiguous).max_factor());
  CHECK(model::expert_load(scenario({}), model::ExpertPlacement::Balanced).uniform());
}

TEST_CASE("hot experts: their rows stay with the tokens' ranks, the rest is received, owners are the hottest's") {
  const auto s = scenario(zipf(1.0));
  const auto plain = model::expert_load(s);
  const auto hot = model::expert_load(s, model::ExpertPlacement::Contiguous, 2);
  CHECK_FALSE(hot.uniform());
  CHECK(hot.hot_experts == 2);
  for (int layer = 1; layer < 6; ++layer) {
    auto shares = model::expert_shares(s, layer);
    std::vector<int> order(16);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return shares[a] > shares[b]; });
    CHECK(hot.local_share[static_cast<std::size_t>(layer)] == Approx(shares[order[0]] + shares[order[1]]));
    CHECK(hot.hot_owner_of(layer, 0) == order[0] / 4);  // contiguous: 4 experts per EP rank
    CHECK(hot.hot_owner_of(layer, 1) == order[1] / 4);
    double received = 0.0, factors = 0.0;
    for (int j = 0; j < 4; ++j) {
      received += hot.receive_share(layer, j);
      factors += hot.factor(layer, j);
    }
    CHECK(received + hot.local_share[static_cast<std::size_t>(layer)] == Approx(1.0));
    CHECK(factors == Approx(4.0));  // still the same rows in total
  }
  CHECK(hot.max_factor() < plain.max_factor());
  // on a uniform load the hot experts (ties: experts 0 and 1, both on rank 0) unbalance it: every rank computes
  // 2/16 of its rows locally, rank 0 receives 2/16, the others 4/16: factors 4 x 2/16 + 1/8 = 0.625 and 1.125
  const auto flat = model::expert_load(scenario({}), model::ExpertPlacement::Contiguous, 2);
  CHECK_FALSE(flat.uniform());
  CHECK(flat.factor(1, 0) == Approx(0.625));
  CHECK(flat.max_factor() == Approx(1.125));
}

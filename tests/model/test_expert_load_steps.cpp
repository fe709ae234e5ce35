// Expert load over several steps: the seeded drift of the shares, incremental re-placement by swaps, and the
// static / dynamic placement policies (model/expert_load).
#include <catch2/catch.hpp>
#include <numeric>

#include "model/expert_load.hpp"
#include "training_fixtures.hpp"

using namespace moesim;

namespace {

// tiny MoE: 6 layers (layer 0 dense), 16 routed experts top-2; EP 4 -> 4 experts per rank
config::ScenarioConfig scenario(double exponent, double drift_sigma, int steps, std::uint64_t seed = 1) {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 4);
  s.training->expert_load.distribution = config::ExpertLoadDistribution::Zipf;
  s.training->expert_load.exponent = exponent;
  s.training->expert_load.drift_sigma = drift_sigma;
  s.training->steps = steps;
  s.seed = seed;
  return s;
}

model::PlacementPolicy dynamic(double min_gain = 0.0, int interval_steps = 1) {
  model::PlacementPolicy p;
  p.placement = model::ExpertPlacement::Balanced;
  p.dynamic = true;
  p.min_gain = min_gain;
  p.interval_steps = interval_steps;
  return p;
}

double hottest(const std::vector<int>& where, const std::vector<double>& share, int ep) {
  std::vector<double> load(static_cast<std::size_t>(ep), 0.0);
  for (std::size_t e = 0; e < share.size(); ++e) load[static_cast<std::size_t>(where[e])] += share[e];
  return *std::max_element(load.begin(), load.end());
}

}  // namespace

TEST_CASE("drift: step 0 is the configured load, later steps a seeded log-normal walk of it") {
  const auto still = scenario(1.0, 0.0, 3);
  CHECK(model::expert_shares(still, 2, 2) == model::expert_shares(still, 2, 0));  // no drift: every step the same
  const auto s = scenario(1.0, 0.2, 3);
  const auto s0 = model::expert_shares(s, 2, 0);
  const auto s1 = model::expert_shares(s, 2, 1);
  const auto s2 = model::expert_shares(s, 2, 2);
  CHECK(s0 == model::expert_shares(still, 2, 0));
  CHECK(s1 != s0);
  CHECK(s2 != s1);
  CHECK(std::accumulate(s2.begin(), s2.end(), 0.0) == Approx(1.0));
  CHECK(model::expert_shares(scenario(1.0, 0.2, 3), 2, 2) == s2);     // deterministic
  CHECK(model::expert_shares(scenario(1.0, 0.2, 3, 9), 2, 2) != s2);  // the seed matters
  CHECK(model::expert_shares(s, 3, 1) != s1);                         // per layer
  // log(s1 / s0) - mean is sigma x z: over 16 experts its spread is about 0.2 (not 0, not 1)
  std::vector<double> log_ratio;
  for (std::size_t e = 0; e < s0.size(); ++e) log_ratio.push_back(std::log(s1[e] / s0[e]));
  const double mean = std::accumulate(log_ratio.begin(), log_ratio.end(), 0.0) / 16.0;
  double var = 0.0;
  for (double x : log_ratio) var += (x - mean) * (x - mean) / 15.0;
  CHECK(std::sqrt(var) > 0.08);
  CHECK(std::sqrt(var) < 0.4);
}

TEST_CASE("swaps: hottest and coolest rank trade the pair that evens them most, counts kept, by hand") {
  // 2 ranks x 2 experts: {0.4, 0.3} on rank 0 (0.7), {0.2, 0.1} on rank 1 (0.3). The hotter side after a swap:
  // 0.4 <-> 0.2: max(0.5, 0.5) = 0.5; 0.4 <-> 0.1: max(0.4, 0.6) = 0.6; 0.3 <-> 0.2: max(0.6, 0.4) = 0.6;
  // 0.3 <-> 0.1: max(0.5, 0.5) = 0.5. The first best (experts 0 and 2) wins; then both ranks hold 0.5: done.
  const std::vector<double> share{0.4, 0.3, 0.2, 0.1};
  const auto where = model::rebalanced_by_swaps({0, 0, 1, 1}, share, 2, 0.0);
  CHECK(where == std::vector<int>{1, 0, 0, 1});
  CHECK(hottest(where, share, 2) == Approx(0.5));
  // a swap must gain at least min_gain of the hot rank's load: 0.7 -> 0.5 is 29 %
  CHECK(model::rebalanced_by_swaps({0, 0, 1, 1}, share, 2, 0.3) == std::vector<int>{0, 0, 1, 1});
  CHECK(model::rebalanced_by_swaps({0, 0, 1, 1}, share, 2, 0.25) == std::vector<int>{1, 0, 0, 1});
  // EDPB's rule: the best swap sheds 0.2 of share from the hot rank; at 1 s per unit of share per step that is 0.2 s
  // a step, against 0.25 s for the slower of its two transfers: not worth it over 1 step, worth it over 2
  model::SwapCosts costs;
  costs.seconds_per_share = 1.0;
  costs.move_s = {0.0, 0.15, 0.25, 0.0};
  CHECK(model::rebalanced_by_swaps({0, 0, 1, 1}, share, 2, 0.0, costs, 1) == std::vector<int>{0, 0, 1, 1});
  CHECK(model::rebalanced_by_swaps({0, 0, 1, 1}, share, 2, 0.0, costs, 2) == std::vector<int>{1, 0, 0, 1});
  // balanced already: nothing moves
  CHECK(model::rebalanced_by_swaps({0, 1, 1, 0}, share, 2, 0.0) == std::vector<int>{0, 1, 1, 0});
}

TEST_CASE("static policy: one placement for every step, without drift every step equals the first") {
  const auto s = scenario(1.0, 0.0, 3);
  model::PlacementPolicy balanced;
  balanced.placement = model::ExpertPlacement::Balanced;
  const auto loads = model::expert_load_steps(s, balanced);
  REQUIRE(loads.steps.size() == 3);
  CHECK(loads.move_count() == 0);
  const auto first = model::expert_load(s, model::ExpertPlacement::Balanced);
  for (const auto& step : loads.steps) CHECK(step.rank_share == first.rank_share);
  // dynamic without drift: it predicts the load the first placement was made for; here no swap improves that
  const auto same = model::expert_load_steps(s, dynamic());
  CHECK(same.move_count() == 0);
  CHECK(same.steps.back().rank_share == first.rank_share);
}

TEST_CASE("dynamic policy: re-placed from the previous step's load, moves listed, the prediction's hot rank cooler") {
  const auto s = scenario(1.0, 0.5, 4);
  model::PlacementPolicy balanced;
  balanced.placement = model::ExpertPlacement::Balanced;
  const auto fixed = model::expert_load_steps(s, balanced);
  const auto moving = model::expert_load_steps(s, dynamic());
  REQUIRE(moving.moves.size() == 4);
  CHECK(moving.moves[0].empty());
  CHECK(moving.moves[1].empty());  // step 1 predicts step 0's load, for which step 0's placement was made
  CHECK_FALSE(moving.moves[2].empty());
  // replay the placements from the moves: a move is from where the expert was to a new rank, counts stay 4
  for (int layer = 1; layer < 6; ++layer) {
    auto where = model::place_experts(model::expert_shares(s, layer, 0), 4, model::ExpertPlacement::Balanced);
    for (int step = 1; step < 4; ++step) {
      const auto before = where;
      for (const auto& m : moving.moves[static_cast<std::size_t>(step)]) {
        if (m.layer != layer) continue;
        CHECK(where[static_cast<std::size_t>(m.expert)] == m.from);
        CHECK(m.to != m.from);
        where[static_cast<std::size_t>(m.expert)] = m.to;
      }
      std::vector<int> count(4, 0);
      for (int r : where) ++count[static_cast<std::size_t>(r)];
      CHECK(count == std::vector<int>{4, 4, 4, 4});
      const auto predicted = model::expert_shares(s, layer, step - 1);
      CHECK(hottest(where, predicted, 4) <= hottest(before, predicted, 4) + 1e-12);
      // the step's own shares sit where the replay says
      const auto share = model::expert_shares(s, layer, step);
      std::vector<double> rank(4, 0.0);
      for (std::size_t e = 0; e < share.size(); ++e) rank[static_cast<std::size_t>(where[e])] += share[e];
      for (int j = 0; j < 4; ++j)
        CHECK(moving.steps[static_cast<std::size_t>(step)].receive_share(layer, j) == Approx(rank[j]));
    }
  }
  // interval 2: only even steps re-place
  const auto sparse = model::expert_load_steps(s, dynamic(0.0, 2));
  CHECK(sparse.moves[1].empty());
  CHECK(sparse.moves[3].empty());
  CHECK_FALSE(sparse.moves[2].empty());
  // a high threshold stops every swap
  CHECK(model::expert_load_steps(s, dynamic(0.9)).move_count() == 0);
  // the worst step is the largest max factor of the list
  double largest = 0.0;
  for (const auto& step : fixed.steps) largest = std::max(largest, step.max_factor());
  CHECK(fixed.max_factor() == largest);
}

TEST_CASE("redundant experts: extra slots to the largest share per copy, copies on distinct ranks, by hand") {
  // 4 experts on 2 ranks, 3 slots each: the 2 extra slots go to expert 0 (0.5 -> 0.25 per copy), then expert 1
  // (0.3 -> 0.15). Units 0.25 0.25 0.15 0.15 0.15 0.05, each onto the lighter rank (ties: rank 0) not holding its
  // expert: rank 0 gets 0.25 (e0), 0.15 (e1), 0.15 (e2) = 0.55 and is full; rank 1 0.25 (e0), 0.15 (e1), 0.05 (e3)
  const auto load = model::rank_shares_with_replicas({0.5, 0.3, 0.15, 0.05}, 2, 1);
  REQUIRE(load.size() == 2);
  CHECK(load[0] + load[1] == Approx(1.0));
  CHECK(load[0] == Approx(0.55));
  CHECK(load[1] == Approx(0.45));
  // without copies the best 2-and-2 split of these shares is 0.55 / 0.45 as well; one hot expert alone cannot be
  // split by placement, only by copies
  const auto hot = model::rank_shares_with_replicas({0.7, 0.1, 0.1, 0.1}, 2, 1);
  // expert 0 gets 2 copies (0.35 each; no more than one per rank), expert 1 the last extra slot (0.05 each):
  // 0.35 + 0.1 + 0.05 on each rank
  CHECK(hot[0] == Approx(0.5));
  CHECK(hot[1] == Approx(0.5));
  const auto no_copies = model::place_experts({0.7, 0.1, 0.1, 0.1}, 2, model::ExpertPlacement::Balanced);
  double rank0 = 0.0;
  for (std::size_t e = 0; e < 4; ++e) rank0 += no_copies[e] == 0 ? std::vector<double>{0.7, 0.1, 0.1, 0.1}[e] : 0.0;
  CHECK(std::max(rank0, 1.0 - rank0) == Approx(0.8));
}

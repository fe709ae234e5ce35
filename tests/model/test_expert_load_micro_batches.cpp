// Per-micro-batch expert loads in training (training.expert_load "sampled" and "micro_batch_sigma"): each
// micro-batch its own seeded load, placed as its step; the step's load their envelope (model/expert_load).
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>

#include "model/expert_load.hpp"
#include "model/training_blocks.hpp"
#include "training_fixtures.hpp"

using namespace moesim;

namespace {

// tiny MoE: 6 layers (layer 0 dense), 16 routed experts top-2; EP 4 -> 4 experts per rank; 4 micro-batches
config::ScenarioConfig scenario(bool sampled, double micro_batch_sigma, std::uint64_t seed = 1) {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 16);
  s.training->expert_load.sampled = sampled;
  s.training->expert_load.micro_batch_sigma = micro_batch_sigma;
  s.seed = seed;
  return s;
}

model::ExpertLoadSteps loads(const config::ScenarioConfig& s) {
  return model::expert_load_steps(s, {});
}

}  // namespace

TEST_CASE("per-micro-batch loads: one seeded load per micro-batch, the step's load their envelope") {
  const auto plain = loads(scenario(false, 0.0));
  CHECK(plain.micro_batches.front().empty());
  CHECK(plain.at(0, 3).max_factor() == 1.0);
  const auto s = scenario(false, 0.3);
  REQUIRE(config::micro_batches_per_step(s) == 4);
  const auto l = loads(s);
  REQUIRE(l.micro_batches.size() == 1);
  REQUIRE(l.micro_batches[0].size() == 4);
  CHECK(l.at(0, 0).rank_share[2] != l.at(0, 1).rank_share[2]);                         // micro-batches differ
  CHECK(l.at(0, 0).rank_share[2] != l.at(0, 0).rank_share[3]);                         // and layers
  CHECK(loads(scenario(false, 0.3)).at(0, 2).rank_share == l.at(0, 2).rank_share);     // deterministic
  CHECK(loads(scenario(false, 0.3, 7)).at(0, 2).rank_share != l.at(0, 2).rank_share);  // the seed matters
  double largest = 1.0;
  for (int k = 0; k < 4; ++k) {
    const auto& mb = l.at(0, k);
    for (int layer = 1; layer < 6; ++layer) {
      const auto& row = mb.rank_share[static_cast<std::size_t>(layer)];
      CHECK(std::accumulate(row.begin(), row.end(), 0.0) == Approx(1.0));
      for (int j = 0; j < 4; ++j) CHECK(l.steps[0].factor(layer, j) >= mb.factor(layer, j) - 1e-12);
    }
    largest = std::max(largest, mb.max_factor());
  }
  CHECK(l.max_factor() == largest);
  CHECK(largest > 1.05);     // sigma 0.3 over 4 experts per rank leaves some rank hot
  CHECK_THROWS(l.at(1, 0));  // beyond the steps: an error, not silently the first step
}

TEST_CASE("sampled training routing: each micro-batch's rows drawn, spread as a multinomial of its token count") {
  const auto s = scenario(true, 0.0);
  const auto shape = model::training_shape(s);
  const double rows = shape.ep_size * shape.tokens_moe() * s.model->moe->top_k;  // one micro-batch, one EP group
  REQUIRE(rows == Approx(4 * 1024 * 2));
  const auto l = loads(s);
  // per rank (4 of 16 experts, p = 1/4): share sd sqrt(p (1 - p) / rows) over 4 micro-batches x 5 layers x 4 ranks
  double sum = 0.0, sum_sq = 0.0;
  int n = 0;
  for (int k = 0; k < 4; ++k) {
    for (int layer = 1; layer < 6; ++layer) {
      for (double q : l.at(0, k).rank_share[static_cast<std::size_t>(layer)]) {
        sum += q;
        sum_sq += (q - 0.25) * (q - 0.25);
        ++n;
      }
    }
  }
  const double sd = std::sqrt(sum_sq / n), expected = std::sqrt(0.25 * 0.75 / rows);
  CHECK(sum / n == Approx(0.25));
  CHECK(sd > 0.7 * expected);
  CHECK(sd < 1.3 * expected);
}

TEST_CASE("MoGE keeps every group at 1/M in each micro-batch, so whole groups per rank stay balanced") {
  auto s = scenario(true, 0.5);
  s.model->moe->routing = config::RoutingKind::MoGE;
  s.model->moe->num_groups = 4;  // 4 experts per group = one group per EP rank
  s.model->moe->top_k_per_group = 1;
  s.model->moe->top_k = 4;
  const auto l = loads(s);
  for (int k = 0; k < 4; ++k) CHECK(l.at(0, k).max_factor() == Approx(1.0));
}

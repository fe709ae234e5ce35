// Training layout: Megatron rank order, process groups (TP-extend-EP), layer-to-stage assignment.
#include <catch2/catch.hpp>

#include "config/model_config.hpp"
#include "model/training_layout.hpp"
#include "training_fixtures.hpp"

using namespace moesim;

TEST_CASE("ranks are ordered tp fastest, then cp, dp, pp") {
  const model::TrainingLayout l(test::layout(4, 2, 3, 1, 2), 3);
  CHECK(l.num_ranks() == 4 * 2 * 3 * 2);
  CHECK(l.rank({1, 0, 0, 0}) == 1);
  CHECK(l.rank({0, 1, 0, 0}) == 4);
  CHECK(l.rank({0, 0, 1, 0}) == 8);
  CHECK(l.rank({0, 0, 0, 1}) == 24);
  for (int r = 0; r < l.num_ranks(); ++r) CHECK(l.rank(l.coord(r)) == r);
  CHECK(l.tp_group(9) == std::vector<int>{8, 9, 10, 11});
  CHECK(l.cp_group(9) == std::vector<int>{9, 13});
  CHECK(l.dense_dp_group(1) == std::vector<int>{1, 5, 9, 13, 17, 21});
  CHECK(l.at_stage(9, 1) == 33);
}

TEST_CASE("TP-extend-EP groups span several DP replicas inside a stage (Ultra MoE: 32-way over 4 replicas)") {
  const model::TrainingLayout l(test::layout(8, 16, 48, 2, 1, 4, true, true), 48);
  CHECK(l.expert_parallel_size() == 32);
  CHECK(l.ep_span_replicas() == 4);
  const auto ep = l.ep_group(5);
  REQUIRE(ep.size() == 32);
  CHECK(ep.front() == 0);
  CHECK(ep.back() == 31);
  CHECK(l.expert_dp_group(5).size() == 12);  // 384 ranks per stage / 32
  CHECK(l.expert_dp_group(5)[1] == 37);
  CHECK(l.stage_groups(1, &model::TrainingLayout::ep_group).size() == 12);
  CHECK(l.stage_groups(1, &model::TrainingLayout::ep_group)[0][0] == 384);
}

TEST_CASE("plain EP groups sit inside the TP x CP block when ep <= tp") {
  const model::TrainingLayout l(test::layout(8, 1, 4, 1, 1, 4), 4);
  CHECK(l.ep_span_replicas() == 1);
  CHECK(l.ep_group(6) == std::vector<int>{4, 5, 6, 7});
  CHECK(l.expert_dp_group(6).size() == 8);
}

TEST_CASE("layers are assigned contiguously, and padding split front/back, and MTP and head in the last virtual stage") {
  const auto model = config::load_model(std::string(MOESIM_SOURCE_DIR) + "/models/pangu_ultra_moe_718b.json");
  const auto p = test::layout(8, 16, 48, 2, 1, 4, true, true, 2);
  const auto stages = model::assign_layers(model, p);
  REQUIRE(stages.size() == 32);
  CHECK(stages[0].embedding);
  CHECK(stages[0].slots[0].kind == model::SlotKind::Padding);
  CHECK(stages[0].slots[1].index == 0);
  CHECK(stages[16].stage == 0);
  CHECK(stages[16].chunk == 1);
  CHECK(stages[31].head);
  CHECK(stages[31].slots[0].kind == model::SlotKind::Padding);
  CHECK(stages[31].slots[1].kind == model::SlotKind::Mtp);
  CHECK(stages[30].slots[1].index == 60);
  auto bad = p;
  bad.padding_layers = 1;
  CHECK_THROWS_AS(model::assign_layers(model, bad), std::invalid_argument);
}

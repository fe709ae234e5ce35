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

TEST_CASE("hybrid CP sub-groups: Ulysses groups of consecutive CP ranks, rings of the ranks u apart") {
  model::TrainingLayout l(test::layout(2, 1, 1, 1, 8), 1);  // tp 2, cp 8: CP group of rank 1 = 1, 3, ..., 15
  l.set_cp_ulysses(4);
  CHECK(l.cp_group(1) == std::vector<int>{1, 3, 5, 7, 9, 11, 13, 15});
  CHECK(l.cp_ulysses_group(5) == std::vector<int>{1, 3, 5, 7});
  CHECK(l.cp_ulysses_group(11) == std::vector<int>{9, 11, 13, 15});
  CHECK(l.cp_ring_group(5) == std::vector<int>{5, 13});
  CHECK(l.cp_ring_group(0) == std::vector<int>{0, 8});
  l.set_cp_ulysses(2);
  CHECK(l.cp_ulysses_group(4) == std::vector<int>{4, 6});
  CHECK(l.cp_ring_group(4) == std::vector<int>{0, 4, 8, 12});
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

TEST_CASE(
    "layers are assigned contiguously, and padding split front/back, and MTP and head in the last virtual stage") {
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

TEST_CASE("V-shaped placement: chunk 0 runs down the stages, chunk 1 back up, embedding and head on stage 0") {
  using model::ChunkPlacement;
  CHECK(model::pipeline_position(ChunkPlacement::VShape, 16, 15, 0) == 15);
  CHECK(model::pipeline_position(ChunkPlacement::VShape, 16, 15, 1) == 16);  // the turn: same stage
  CHECK(model::pipeline_position(ChunkPlacement::VShape, 16, 0, 1) == 31);
  CHECK(model::pipeline_position(ChunkPlacement::Interleaved, 16, 0, 1) == 16);
  for (int v = 0; v < 32; ++v) {
    for (auto placement : {ChunkPlacement::VShape, ChunkPlacement::Interleaved}) {
      const auto at = model::at_pipeline_position(placement, 16, v);
      CHECK(model::pipeline_position(placement, 16, at.stage, at.chunk) == v);
    }
  }
  const auto model = config::load_model(std::string(MOESIM_SOURCE_DIR) + "/models/pangu_ultra_moe_718b.json");
  auto p = test::layout(8, 16, 48, 2, 1, 4, true, true, 2);
  const auto stages = model::assign_layers(model, p, ChunkPlacement::VShape);
  REQUIRE(stages.size() == 32);  // stored at chunk x pp + stage, as for the interleaved placement
  CHECK(stages[0].embedding);
  CHECK(stages[16].head);  // stage 0, chunk 1: the last pipeline position
  CHECK(stages[16].slots[1].kind == model::SlotKind::Mtp);
  CHECK(stages[15].slots[0].index == 29);    // position 15: layers 29, 30 (after the front padding)
  CHECK(stages[31].slots[0].index == 31);    // stage 15, chunk 1 = position 16
  p.layers_per_virtual_stage.assign(32, 2);  // explicit counts follow pipeline positions
  p.layers_per_virtual_stage[0] = 1;
  p.layers_per_virtual_stage[31] = 0;
  p.padding_layers = 0;
  const auto explicit_stages = model::assign_layers(model, p, ChunkPlacement::VShape);
  CHECK(explicit_stages[16].slots.size() == 1);  // only the MTP module with the head
  CHECK(explicit_stages[31].slots[0].index == 31);
  p.vpp = 4;
  CHECK_THROWS_AS(model::assign_layers(model, p, ChunkPlacement::VShape), std::invalid_argument);
}

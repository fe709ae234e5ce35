// Hierarchical EP dispatch on a tiny layout of 2 nodes x 2 ranks: the node-split groups, the collective volumes
// (hand-computed), the backward mirror and the activation memory of the gathered tokens.
#include <catch2/catch.hpp>

#include "model/moe_dispatch_blocks.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "training_fixtures.hpp"

using namespace moesim;
using model::CollectiveKind;
using model::GroupKind;

namespace {

// tiny MoE with top-8 of 16 experts: a token selects experts on both nodes, so the flat all-to-all sends it to the
// other node up to 8 times where the hierarchical AllGather sends it once.
config::ModelConfig top8_model() {
  auto m = test::tiny_moe_model();
  m.moe->top_k = 8;
  return m;
}

// TP 2, DP 2, EP 2 x TP (TP-extend-EP): one 4-rank EP group; with 2 ranks per node it spans 2 nodes.
config::ScenarioConfig two_by_two() {
  return test::training_scenario(top8_model(), test::layout(2, 1, 2, 1, 1, 2, true, true), 1024, 1, 2);
}

model::MoeCommPlan hierarchical(int outer, int inner) {
  return {model::MoeDispatch::HierarchicalEp, outer, inner};
}

std::vector<model::BlockOp> collectives(const std::vector<model::BlockOp>& ops) {
  std::vector<model::BlockOp> out;
  for (const auto& op : ops) {
    if (op.collective && op.phase == "ep_comm") out.push_back(op);
  }
  return out;
}

}  // namespace

TEST_CASE("node-split EP groups on 2 nodes x 2 ranks") {
  const auto s = two_by_two();
  const model::TrainingLayout layout(s.parallel, 2, 2);
  CHECK(layout.ep_group(0) == std::vector<int>{0, 1, 2, 3});
  CHECK(layout.ep_group_by_node(0) == std::vector<std::vector<int>>{{0, 1}, {2, 3}});
  CHECK(layout.ep_inner_group(0) == std::vector<int>{0, 1});
  CHECK(layout.ep_inner_group(3) == std::vector<int>{2, 3});
  CHECK(layout.ep_outer_group(0) == std::vector<int>{0, 2});
  CHECK(layout.ep_outer_group(3) == std::vector<int>{1, 3});
  CHECK(model::TrainingLayout(s.parallel, 2, 4).ep_group_by_node(0).size() == 1);  // one node of 4
  CHECK_THROWS_WITH(model::TrainingLayout(s.parallel, 2, 3).ep_group_by_node(0),
                    Catch::Contains("different numbers of its members"));  // nodes {0,1,2} and {3}
  CHECK_THROWS_AS(model::TrainingLayout(s.parallel, 2).ep_inner_group(0), std::invalid_argument);  // node size unknown
}

TEST_CASE("hierarchical EP volumes by hand: AllGather across nodes, AllToAllV inside, ReduceScatter back") {
  auto shape = model::training_shape(two_by_two());
  // T = 1 x 1024 tokens per micro-batch; each TP rank routes its sequence shard of 512 tokens x top-8.
  REQUIRE(shape.tokens_moe() == 512.0);
  const double h = 2048.0;

  const auto flat = model::moe_comm_ops(*two_by_two().model, shape);
  REQUIRE(flat.gather.empty());
  REQUIRE(flat.dispatch.size() == 1);
  CHECK(flat.dispatch[0].kind == CollectiveKind::AllToAllV);
  CHECK(flat.dispatch[0].group == GroupKind::Ep);
  CHECK(flat.dispatch[0].elements == 512.0 * 8 * h);  // 8 rows per token, 1/4 to each EP member

  shape.moe_comm = hierarchical(2, 2);
  const auto ops = model::moe_comm_ops(*two_by_two().model, shape);
  REQUIRE(ops.gather.size() == 1);
  REQUIRE(ops.dispatch.size() == 1);
  REQUIRE(ops.combine.size() == 1);
  REQUIRE(ops.reduce.size() == 1);
  CHECK(ops.gather[0].kind == CollectiveKind::AllGather);
  CHECK(ops.gather[0].group == GroupKind::EpOuter);
  CHECK(ops.gather[0].elements == 2 * 512.0 * h);  // output: the 512 tokens of both nodes' same-position ranks
  CHECK(ops.dispatch[0].kind == CollectiveKind::AllToAllV);
  CHECK(ops.dispatch[0].group == GroupKind::EpInner);
  CHECK(ops.dispatch[0].elements == 512.0 * 8 * h);  // 1024 gathered tokens x 8 x 1/2 (this node's experts)
  CHECK(ops.combine[0].group == GroupKind::EpInner);
  CHECK(ops.reduce[0].kind == CollectiveKind::ReduceScatter);
  CHECK(ops.reduce[0].elements == 2 * 512.0 * h);

  // Bytes a rank puts on the network (other node) per dispatch, bf16: flat: 8 rows x 512 x 2048 x 2 B, half of
  // them to the other node = 8 MiB; hierarchical: a 2-member ring AllGather sends the rank's own 512 tokens once =
  // 2 MiB (top_k / nodes = 4x less); the HCCS part grows from 1/4 to 1/2 of the rows.
  const double flat_network = flat.dispatch[0].elements * 2.0 * 2.0 / 4.0;
  const double hier_network = ops.gather[0].elements / 2.0 * 2.0;
  CHECK(flat_network == 8.0 * 1024 * 1024);
  CHECK(hier_network == 2.0 * 1024 * 1024);
}

TEST_CASE("hierarchical EP in a layer: order, backward mirror, single-member inner group") {
  const auto s = two_by_two();
  auto shape = model::training_shape(s);
  shape.moe_comm = hierarchical(2, 2);
  const auto forward = collectives(model::layer_forward(*s.model, shape, true));
  REQUIRE(forward.size() == 4);
  CHECK(forward[0].name == "ep_ag");
  CHECK(forward[1].name == "dispatch");
  CHECK(forward[2].name == "combine");
  CHECK(forward[3].name == "ep_rs");
  const auto dx =
      collectives(model::backward_ops(model::layer_forward(*s.model, shape, true), model::Pass::BackwardInput));
  REQUIRE(dx.size() == 4);
  CHECK(dx[0].name == "ep_rs_b");
  CHECK(dx[0].kind == CollectiveKind::AllGather);  // output gradients gathered across nodes
  CHECK(dx[1].kind == CollectiveKind::AllToAllV);
  CHECK(dx[2].kind == CollectiveKind::AllToAllV);
  CHECK(dx[3].name == "ep_ag_b");
  CHECK(dx[3].kind == CollectiveKind::ReduceScatter);  // input gradients summed back to the token owners

  shape.moe_comm = hierarchical(4, 1);  // one EP member per node: nothing to exchange inside the node
  const auto one = collectives(model::layer_forward(*s.model, shape, true));
  REQUIRE(one.size() == 2);
  CHECK(one[0].elements == 4 * 512.0 * 2048);
}

TEST_CASE("hierarchical EP keeps the gathered tokens for the backward (activation module ep_allgather)") {
  const auto s = two_by_two();
  auto shape = model::training_shape(s);
  const auto stages = model::assign_layers(*s.model, s.parallel);
  const auto flat = model::virtual_stage_activation_bytes(*s.model, shape, stages[0]);
  CHECK(flat.count("ep_allgather") == 0);
  shape.moe_comm = hierarchical(2, 2);
  const auto hier = model::virtual_stage_activation_bytes(*s.model, shape, stages[0]);
  // 5 MoE layers + the MTP module's MoE layer, each 2 x 512 gathered tokens x (2048 x 2 B + 8 x (4 + 8) B)
  CHECK(hier.at("ep_allgather") == Approx(6 * 1024.0 * (4096 + 96)));
  CHECK(hier.at("permute") == flat.at("permute"));

  const auto flat_memory = model::stage_memory(s, stages, 0, {1});
  const auto hier_memory = model::stage_memory(s, stages, 0, {1}, {}, hierarchical(2, 2));
  CHECK(hier_memory.breakdown.activations_bytes - flat_memory.breakdown.activations_bytes ==
        Approx(hier.at("ep_allgather")));
  // one more communicator (the outer group); the inner one is the TP group (TP-extend-EP)
  CHECK(hier_memory.breakdown.comm_buffers_bytes - flat_memory.breakdown.comm_buffers_bytes ==
        Approx(200.0 * 1024 * 1024));
}

// Training blocks: FLOPs of a whole step (every virtual stage, forward + dx + dw, all ranks, all micro-batches)
// equal 3 x the model_stats forward FLOPs x tokens, for dense/MoE, GQA/MLA, with TP, SP, CP and EP variants.
#include <catch2/catch.hpp>

#include "config/model_config.hpp"
#include "model/model_stats.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "training_fixtures.hpp"

using namespace moesim;
using model::Pass;

namespace {

double step_model_flops_from_blocks(const config::ScenarioConfig& s) {
  const auto shape = model::training_shape(s);
  const auto& p = s.parallel;
  double per_micro_batch_all_ranks = 0.0;
  for (const auto& vs : model::assign_layers(*s.model, p)) {
    std::vector<model::BlockOp> forward;
    if (vs.embedding) forward = model::embedding_forward(*s.model, shape);
    for (const auto& slot : vs.slots) {
      for (auto& op : model::slot_forward(*s.model, shape, slot)) forward.push_back(op);
    }
    if (vs.head) {
      for (auto& op : model::head_forward(*s.model, shape)) forward.push_back(op);
    }
    const double rank = model::block_flops(forward, true) +
                        model::block_flops(model::backward_ops(forward, Pass::BackwardInput), true) +
                        model::block_flops(model::backward_ops(forward, Pass::BackwardWeight), true);
    per_micro_batch_all_ranks += rank * p.tp * p.cp * p.dp;
  }
  return per_micro_batch_all_ranks * config::micro_batches_per_step(s);
}

double expected(const config::ScenarioConfig& s) {
  const auto& t = *s.training;
  return 3.0 * model::flops_per_token_forward(*s.model, t.seq_len) * double(t.global_batch_size) * t.seq_len;
}

}  // namespace

TEST_CASE("training step FLOPs are 3 x forward model FLOPs x tokens (dense GQA, TP+SP, PP)") {
  const auto s =
      test::training_scenario(test::tiny_dense_model(), test::layout(2, 2, 2, 1, 1, 1, false, true), 1024, 2, 16);
  REQUIRE(step_model_flops_from_blocks(s) == Approx(expected(s)).epsilon(1e-9));
}

TEST_CASE("training step FLOPs are 3 x forward model FLOPs x tokens (MoE MLA + MTP, TP-extend-EP, CP, padding)") {
  auto p = test::layout(2, 2, 4, 2, 2, 2, true, true, 1);  // 6 layers + 1 MTP + 1 padding = 8 slots = 2 x 2 x 2
  const auto s = test::training_scenario(test::tiny_moe_model(), p, 2048, 1, 16);
  REQUIRE(step_model_flops_from_blocks(s) == Approx(expected(s)).epsilon(1e-9));
}

TEST_CASE("training step FLOPs hold for the Ultra MoE 718B layout") {
  const auto model = config::load_model(std::string(MOESIM_SOURCE_DIR) + "/models/pangu_ultra_moe_718b.json");
  const auto s = test::training_scenario(model, test::layout(8, 16, 48, 2, 1, 4, true, true, 2), 4096, 2, 3072);
  REQUIRE(step_model_flops_from_blocks(s) == Approx(expected(s)).epsilon(1e-9));
}

TEST_CASE("backward mirrors the forward collectives and splits dx and dw") {
  const auto s =
      test::training_scenario(test::tiny_moe_model(), test::layout(2, 1, 4, 1, 1, 2, true, true), 1024, 1, 4);
  const auto shape = model::training_shape(s);
  const auto forward = model::layer_forward(*s.model, shape, true);
  const auto dx = model::backward_ops(forward, Pass::BackwardInput);
  const auto dw = model::backward_ops(forward, Pass::BackwardWeight);
  auto count = [](const std::vector<model::BlockOp>& ops, model::CollectiveKind kind) {
    int n = 0;
    for (const auto& op : ops) n += op.collective && op.kind == kind ? 1 : 0;
    return n;
  };
  using K = model::CollectiveKind;
  // forward with SP: AllGather before attention and before the shared expert, ReduceScatter after each
  CHECK(count(forward, K::AllGather) == 2);
  CHECK(count(forward, K::ReduceScatter) == 2);
  CHECK(count(forward, K::AllToAllV) == 2);  // dispatch + combine over the 4-way EP group
  CHECK(count(dx, K::AllGather) == count(forward, K::ReduceScatter));
  CHECK(count(dx, K::ReduceScatter) == count(forward, K::AllGather));
  CHECK(count(dx, K::AllToAllV) == 2);
  for (const auto& op : dw) CHECK_FALSE(op.collective);
  // dx has the forward matmul FLOPs plus twice the attention core; dw the forward matmul FLOPs
  double core = 0.0;
  for (const auto& op : forward) core += op.name == "attn_core" ? op.cost.flops : 0.0;
  CHECK(model::block_flops(dx, true) == Approx(model::block_flops(forward, true) + core));
  CHECK(model::block_flops(dw, true) == Approx(model::block_flops(forward, true) - core));
}

TEST_CASE("without sequence parallelism TP blocks end in an AllReduce, and tp 1 has no TP collective") {
  const auto model = test::tiny_dense_model();
  auto s = test::training_scenario(model, test::layout(2, 1, 1), 1024, 1, 1);
  auto ops = model::layer_forward(model, model::training_shape(s), false);
  int all_reduce = 0, gathers = 0;
  for (const auto& op : ops) {
    all_reduce += op.collective && op.kind == model::CollectiveKind::AllReduce;
    gathers += op.collective && op.kind == model::CollectiveKind::AllGather;
  }
  CHECK(all_reduce == 2);
  CHECK(gathers == 0);
  s = test::training_scenario(model, test::layout(1, 1, 1), 1024, 1, 1);
  for (const auto& op : model::layer_forward(model, model::training_shape(s), false)) CHECK_FALSE(op.collective);
}

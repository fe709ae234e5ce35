// Selective recompute / swap in the model layer: per-module activation bytes (hand-computed), how a plan splits
// them, the recompute ops each module adds (FLOPs hand-computed) and the memory model with a plan.
#include <catch2/catch.hpp>

#include "block_op_names.hpp"
#include "model/activation_plan.hpp"
#include "model/activation_recompute.hpp"
#include "model/model_stats.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "training_fixtures.hpp"

using namespace moesim;
using model::ActivationMode;
using model::ActivationPlan;
using test::names;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

model::LayerSlot layer(int index) {
  return {model::SlotKind::Layer, index};
}

ActivationPlan plan_of(std::map<std::string, ActivationMode> modules, bool full = false) {
  ActivationPlan plan;
  plan.modules = std::move(modules);
  plan.full_recompute = full;
  return plan;
}

double flops(const std::vector<model::BlockOp>& ops) {
  double total = 0.0;
  for (const auto& op : ops) total += op.collective ? 0.0 : op.cost.flops;
  return total;
}

}  // namespace

TEST_CASE("per-module activation bytes of a dense layer, hand-computed") {
  // tp 1, no SP: T = 1 x 1024 tokens, h 2048, bf16; 16 heads of 128; SwiGLU FFN 8192 wide
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 1, 1), 1024, 1, 1);
  const auto bytes = model::slot_activation_bytes(*s.model, model::training_shape(s), layer(0));
  CHECK(bytes.at("layer_input") == Approx(1024.0 * 2048 * 2));
  CHECK(bytes.at("residual") == Approx(1024.0 * 2048 * 2));
  CHECK(bytes.at("norm") == Approx(2.0 * 1024 * 2048 * 2));
  // q, k, v, output (4 x 16 heads x 128) bf16 + fp32 softmax statistics per head
  CHECK(bytes.at("attention_core") == Approx(1024.0 * 16 * 4 * 128 * 2 + 1024.0 * 16 * 4));
  CHECK(bytes.at("ffn") == Approx(1024.0 * 2 * 8192 * 2));         // gate+up output
  CHECK(bytes.at("ffn_activation") == Approx(1024.0 * 8192 * 2));  // activation output
  CHECK(bytes.size() == 6);
}

TEST_CASE("a plan splits activations into kept, recomputed and swapped, and full keeps only the layer input") {
  const auto s = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 1), 1024, 1, 1);
  const auto bytes = model::slot_activation_bytes(*s.model, model::training_shape(s), layer(2));  // a MoE layer
  REQUIRE(bytes.count("permute"));
  const auto split = model::split_activations(
      bytes, plan_of({{"permute", ActivationMode::Swap}, {"expert_fc1", ActivationMode::Recompute}}));
  CHECK(split.swapped_bytes == Approx(bytes.at("permute")));
  CHECK(split.recomputed_bytes == Approx(bytes.at("expert_fc1")));
  CHECK(split.kept_bytes + split.swapped_bytes + split.recomputed_bytes == Approx(split.total_bytes));
  CHECK(split.kept.count("permute") == 0);
  const auto full = model::split_activations(bytes, plan_of({}, true));
  CHECK(full.kept_bytes == Approx(bytes.at("layer_input")));
  CHECK(full.swapped_bytes == 0.0);
  // 1024 tokens x top-2 routed rows of h 2048: permute = 8 MiB; 16 experts' fp32 probabilities: 64 KiB
  CHECK(bytes.at("permute") == Approx(8.0 * kMiB));
  CHECK(bytes.at("router_probs") == Approx(1024.0 * 16 * 4));
}

TEST_CASE("full recompute re-runs the whole layer forward, and selective modules re-run their own ops") {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(2, 1, 1, 1, 1, 1, false, true), 1024, 1, 1);
  const auto shape = model::training_shape(s);
  const auto forward = model::slot_forward(*s.model, shape, layer(0));
  const auto full = model::recompute_ops(*s.model, shape, layer(0), forward, plan_of({}, true));
  CHECK(full.size() == forward.size());
  CHECK(flops(full) == Approx(flops(forward)));
  for (const auto& op : full) CHECK((op.collective || op.phase == "recompute"));
  // Megatron's selective recompute: the attention core (+ the SP gather and projections that rebuild q, k, v)
  const auto core = model::recompute_ops(*s.model, shape, layer(0), forward,
                                         plan_of({{"attention_core", ActivationMode::Recompute}}));
  CHECK(names(core) == std::vector<std::string>{"rc.attn_ag", "rc.attn_in", "rc.attn_core"});
  // ffn: SP gather + FC1 (2/3 of the FFN's FLOPs for SwiGLU) + the activation function (a vector op)
  const auto ffn =
      model::recompute_ops(*s.model, shape, layer(0), forward, plan_of({{"ffn", ActivationMode::Recompute}}));
  REQUIRE(names(ffn) == std::vector<std::string>{"rc.ffn_ag", "rc.ffn_fc1", "rc.ffn_act"});
  const double ffn_flops = 2.0 * 1024 * model::dense_ffn_params(*s.model) / 2;  // 2 x tokens x params / tp
  CHECK(ffn[1].cost.flops == Approx(ffn_flops * 2.0 / 3.0));
  CHECK(ffn[2].cost.op_class == config::OpClass::Vector);
  // swap adds no op: nothing to recompute
  CHECK(model::recompute_ops(*s.model, shape, layer(0), forward, plan_of({{"norm", ActivationMode::Swap}})).empty());
}

TEST_CASE("permute recompute re-runs the dispatch, and expert FC1 + unpermute re-run the grouped matmul once") {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(2, 1, 2, 1, 1, 2, true, true), 1024, 1, 2);
  const auto shape = model::training_shape(s);
  const auto forward = model::slot_forward(*s.model, shape, layer(3));
  const auto permute =
      model::recompute_ops(*s.model, shape, layer(3), forward, plan_of({{"permute", ActivationMode::Recompute}}));
  CHECK(names(permute) == std::vector<std::string>{"rc.permute", "rc.dispatch"});
  const auto both = model::recompute_ops(
      *s.model, shape, layer(3), forward,
      plan_of({{"expert_fc1", ActivationMode::Recompute}, {"unpermute", ActivationMode::Recompute}}));
  REQUIRE(names(both) == std::vector<std::string>{"rc.experts", "rc.combine"});
  double experts = 0.0;
  for (const auto& op : forward) experts += op.name == "experts" ? op.cost.flops : 0.0;
  CHECK(both[0].cost.flops == Approx(experts));
  // MTP module: its transformer layer's ops only (not its LM head)
  const model::LayerSlot mtp{model::SlotKind::Mtp, 0};
  const auto mtp_forward = model::slot_forward(*s.model, shape, mtp);
  const auto mtp_full = model::recompute_ops(*s.model, shape, mtp, mtp_forward, plan_of({}, true));
  CHECK(flops(mtp_full) == Approx(flops(model::layer_forward(*s.model, shape, true))));
}

TEST_CASE("stage memory with a plan: kept activations x in-flight + the recompute / swap working set") {
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 1), 1024, 1, 4);
  const auto stages = model::assign_layers(*s.model, s.parallel);
  const auto shape = model::training_shape(s);
  const auto per_layer = model::slot_activation_bytes(*s.model, shape, layer(0));
  const auto keep = model::stage_memory(s, stages, 0, {3});
  const auto plan = plan_of({{"ffn", ActivationMode::Recompute}, {"attention_core", ActivationMode::Swap}});
  const auto with = model::stage_memory(s, stages, 0, {3}, plan);
  // stage 0: 4 layers, 3 in flight; working set = one layer's recomputed + two layers' swapped bytes
  // "ffn" covers the FC1 output and the activation output ("ffn_activation")
  const double ffn = per_layer.at("ffn") + per_layer.at("ffn_activation");
  const double dropped = 4 * 3 * (ffn + per_layer.at("attention_core"));
  const double working = ffn + 2.0 * per_layer.at("attention_core");
  CHECK(with.breakdown.activations_bytes == Approx(keep.breakdown.activations_bytes - dropped + working));
  CHECK(with.breakdown.activations_keep_all_bytes == Approx(keep.breakdown.activations_bytes));
  CHECK(with.breakdown.activations_swapped_bytes == Approx(4 * 3 * per_layer.at("attention_core")));
  CHECK(with.breakdown.activations_by_module.at("recompute_swap_working_set") == Approx(working));
  CHECK(with.breakdown.activations_by_module.count("ffn") == 0);
  CHECK(with.breakdown.weights_bytes == Approx(keep.breakdown.weights_bytes));
  CHECK(model::swap_bytes(*s.model, shape, layer(0), plan, 0) == Approx(per_layer.at("attention_core")));
  auto only_stage_1 = plan;
  only_stage_1.swap_virtual_stages = {false, true};  // stage 0 keeps what it would swap
  CHECK(model::swap_bytes(*s.model, shape, layer(0), only_stage_1, 0) == 0.0);
  CHECK(model::stage_memory(s, stages, 0, {3}, only_stage_1).breakdown.activations_swapped_bytes == 0.0);
}

TEST_CASE("layers_per_virtual_stage places uneven layer counts and puts the MTP module last") {
  auto p = test::layout(1, 2, 1, 2);
  p.layers_per_virtual_stage = {1, 2, 2, 1};  // 6 layers over 4 virtual stages, no padding
  const auto stages = model::assign_layers(test::tiny_moe_model(), p);
  REQUIRE(stages.size() == 4);
  CHECK(stages[0].slots.size() == 1);
  CHECK(stages[0].embedding);
  CHECK(stages[1].slots.front().index == 1);
  CHECK(stages[1].stage == 1);
  CHECK(stages[2].stage == 0);
  CHECK(stages[2].chunk == 1);
  REQUIRE(stages[3].slots.size() == 2);
  CHECK(stages[3].slots[0].index == 5);
  CHECK(stages[3].slots[1].kind == model::SlotKind::Mtp);
  CHECK(stages[3].head);
  p.layers_per_virtual_stage = {1, 2, 2};
  CHECK_THROWS_AS(model::assign_layers(test::tiny_moe_model(), p), std::invalid_argument);
}

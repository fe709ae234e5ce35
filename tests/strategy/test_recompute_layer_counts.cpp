// Layer counts of the memory strategy: full recompute of a virtual stage's first N layers (Megatron's block
// method, --recompute-num-layers) and per-module recompute on the first N layers (MindFormers' per-stage
// select_recompute counts): the plan per slot, the memory model, the step builder's recompute ops, the params
// checks and auto mode's fewest full layers per stage.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "../model/training_fixtures.hpp"
#include "config/config_error.hpp"
#include "memory_strategy_fixtures.hpp"
#include "model/activation_recompute.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "strategy/catalog.hpp"
#include "strategy/memory_plan_estimates.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;
using model::ActivationMode;
using nlohmann::json;
using test::validation_errors;
using test::with_memory;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// The tiny dense model (8 layers) over 2 stages of 4 layers, TP 2, DP 2.
config::ScenarioConfig dense() {
  return test::training_scenario(test::tiny_dense_model(), test::layout(2, 2, 2, 1, 1, 1, false, true), 1024, 1, 8);
}

// The same model over 2 stages x 2 chunks of 2 layers (interleaved 1F1B).
config::ScenarioConfig dense_vpp2() {
  return test::training_scenario(test::tiny_dense_model(), test::layout(2, 2, 2, 2, 1, 1, false, true), 1024, 1, 8);
}

strategy::TrainingStep build(const config::ScenarioConfig& s) {
  strategy::TrainingStepOptions options;
  options.reduce_dp = false;
  return strategy::build_training_step(s, *strategy::make_pipeline_schedule(s), options);
}

// Recompute FLOPs of the cube ops (model FLOPs: vector ops left out) on `rank` per layer name prefix ("L3.").
std::map<std::string, double> recompute_flops_by_layer(const model::OpGraph& g, int rank) {
  std::map<std::string, double> out;
  for (const auto& op : g.ops) {
    if (op.rank != rank || op.kind != model::OpKind::Compute || op.phase != "recompute") continue;
    if (op.compute.op_class == config::OpClass::Vector) continue;
    out[op.name.substr(0, op.name.find('.') + 1)] += op.compute.flops;
  }
  return out;
}

}  // namespace

TEST_CASE("a layer-limited plan resolves per slot: full or per-module recompute below the count, swap everywhere") {
  model::ActivationPlan plan;
  plan.full_recompute = true;
  plan.full_recompute_layers = {{2, 0}};
  plan.modules = {{"ffn", ActivationMode::Recompute}, {"norm", ActivationMode::Swap}};
  plan.module_recompute_layers = {{3, 1}};
  CHECK(plan.layer_limited());
  CHECK(plan.at_slot(0, 0, 1).full_recompute);
  CHECK_FALSE(plan.at_slot(0, 0, 2).full_recompute);
  CHECK_FALSE(plan.at_slot(0, 1, 0).full_recompute);
  CHECK(plan.at_slot(0, 0, 2).mode("ffn") == ActivationMode::Recompute);
  CHECK(plan.at_slot(0, 0, 3).mode("ffn") == ActivationMode::Keep);
  CHECK(plan.at_slot(0, 1, 1).mode("ffn") == ActivationMode::Keep);
  CHECK(plan.at_slot(0, 1, 5).mode("norm") == ActivationMode::Swap);
  CHECK_FALSE(plan.at_slot(0, 0, 0).layer_limited());
  model::ActivationPlan every;  // no counts: every slot follows the plan
  every.full_recompute = true;
  CHECK(every.at_slot(0, 3, 40).full_recompute);
}

TEST_CASE("layer positions count transformer layers and MTP modules, not padding") {
  model::VirtualStage vs;
  vs.slots = {{model::SlotKind::Padding, 0},
              {model::SlotKind::Layer, 5},
              {model::SlotKind::Layer, 6},
              {model::SlotKind::Padding, 0},
              {model::SlotKind::Mtp, 0}};
  CHECK(model::layer_positions(vs) == std::vector<int>{0, 0, 1, 2, 2});
}

TEST_CASE("stage memory falls by one layer's recomputed activations per fully recomputed layer") {
  const auto s = dense();
  const auto stages = model::assign_layers(*s.model, s.parallel);
  auto activations = [&](int layers) {
    model::ActivationPlan plan;
    plan.full_recompute = true;
    plan.full_recompute_layers = {{layers, layers}};
    return model::stage_memory(s, stages, 1, {1}, plan).breakdown.activations_bytes;
  };
  model::ActivationPlan all;
  all.full_recompute = true;
  const double full = model::stage_memory(s, stages, 1, {1}, all).breakdown.activations_bytes;
  const double keep = model::stage_memory(s, stages, 1, {1}).breakdown.activations_bytes;
  CHECK(activations(0) == Approx(keep));
  CHECK(activations(4) == Approx(full));
  CHECK(activations(9) == Approx(full));  // a count above the stage's layers covers all of them
  // layers 1..4: the same saving each (the working set, one layer's recomputed bytes, is there from the first)
  const double step = activations(1) - activations(2);
  CHECK(step > 0.0);
  CHECK(activations(2) - activations(3) == Approx(step));
  CHECK(activations(3) - activations(4) == Approx(step));
}

TEST_CASE("step builder: full recompute of the first layers of each stage re-runs exactly those layers") {
  const auto s = dense();
  const auto step = build(with_memory(s, {{"modules", {{"full", "recompute"}}}, {"full_layers", json::array({3, 1})}}));
  REQUIRE_NOTHROW(model::validate(step.graph));
  const auto shape = model::training_shape(s);
  const double layer = model::block_flops(model::layer_forward(*s.model, shape, false), true);
  const int micro_batches = 4;
  const auto stage0 = recompute_flops_by_layer(step.graph, 0);  // layers 0-3
  CHECK(stage0.size() == 3);
  for (const char* name : {"L0.", "L1.", "L2."}) CHECK(stage0.at(name) == Approx(layer * micro_batches));
  const int stage1_rank = model::TrainingLayout(s.parallel, s.parallel.dp, 8).stage_ranks(1).front();
  const auto stage1 = recompute_flops_by_layer(step.graph, stage1_rank);
  REQUIRE(stage1.size() == 1);
  CHECK(stage1.at("L4.") == Approx(layer * micro_batches));
  // the per-module count: only the first layer of each stage re-runs its FFN
  const auto ffn = build(with_memory(s, {{"modules", {{"ffn", "recompute"}}}, {"recompute_layers", 1}}));
  const auto ffn0 = recompute_flops_by_layer(ffn.graph, 0);
  REQUIRE(ffn0.size() == 1);
  CHECK(ffn0.count("L0.") == 1);
}

TEST_CASE("layer-count params: integers or one per stage, and only where a recompute mode exists") {
  const auto s = dense();
  const json full = {{"full", "recompute"}};
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", 2}})).empty());
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", json::array({2, 0})}})).empty());
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", json::array({2, 0, 1})}}))
            .find("/strategies/0/params/full_layers: expected one count per pipeline stage (pp = 2), got 3") !=
        std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", -1}}))
            .find("/params/full_layers: expected an integer >= 0, an array of them (one per pipeline stage) or an "
                  "array of such arrays") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", 1.5}}))
            .find("/params/full_layers: expected an integer") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", json::array({1, "x"})}}))
            .find("/params/full_layers/1: expected an integer >= 0") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", json::array()}}))
            .find("got an empty array") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", {{"ffn", "recompute"}}}, {"full_layers", 2}}))
            .find("/params/full_layers: limits full layer recompute") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", {{"ffn", "swap"}}}, {"recompute_layers", 2}}))
            .find("/params/recompute_layers: limits the per-module recompute modes") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"mode", "auto"}, {"recompute_layers", 2}})).empty());
}

TEST_CASE("auto mode's last resort recomputes the fewest layers per stage that fit") {
  auto s = dense();
  const strategy::MemoryPlanEstimator estimator(s, test::stage_orders(s));
  model::ActivationPlan all;
  all.full_recompute = true;
  // device memory between full recompute everywhere and keeping everything, swap impossible
  s.topology.device.host_link_bandwidth_bytes_per_s.value = 0.0;
  const double keep = estimator.peak_memory_bytes({}), full = estimator.peak_memory_bytes(all);
  REQUIRE(keep - full > 0.01 * kGiB);
  s.topology.device.memory_bytes.value = full + 0.3 * (keep - full);
  const auto m = strategy::resolve_memory_plan(
      with_memory(s, {{"mode", "auto"}, {"modules", {{"norm", "keep"}, {"attention_core", "keep"}, {"ffn", "keep"}}}}),
      test::stage_orders(s));
  INFO(m.report.dump(1));
  CHECK(m.report["fits"] == true);
  REQUIRE(m.plan.full_recompute);
  REQUIRE(m.plan.full_recompute_layers.size() == 1);  // one chunk
  REQUIRE(m.plan.full_recompute_layers[0].size() == 2);
  CHECK(m.report["choices"].back()["full_layers_per_stage"] == json(m.plan.full_recompute_layers[0]));
  const strategy::MemoryPlanEstimator limited(s, test::stage_orders(s));
  for (int st = 0; st < 2; ++st) {
    const int count = m.plan.full_recompute_layers[0][static_cast<std::size_t>(st)];
    CHECK(limited.stage_peak_bytes(m.plan, st) <= s.topology.device.memory_bytes.value);
    if (count == 0) continue;
    auto fewer = m.plan;
    fewer.full_recompute_layers[0][static_cast<std::size_t>(st)] = count - 1;
    CHECK(limited.stage_peak_bytes(fewer, st) > s.topology.device.memory_bytes.value);  // one layer fewer: no fit
  }
  // stage 0 holds two micro-batches under 1F1B, stage 1 one: stage 0 needs at least as many layers
  CHECK(m.plan.full_recompute_layers[0][0] >= m.plan.full_recompute_layers[0][1]);
  CHECK(m.plan.full_recompute_layers[0][0] < 4);
  CHECK(strategy::plan_text(m.plan).find("full recompute (first") == 0);
}

TEST_CASE("ffn_activation drops the dense FFN's activation output alone and re-runs only the activation function") {
  const auto s = dense();
  const auto shape = model::training_shape(s);
  const model::LayerSlot slot{model::SlotKind::Layer, 0};
  const auto forward = model::slot_forward(*s.model, shape, slot);
  model::ActivationPlan plan;
  plan.modules["ffn_activation"] = ActivationMode::Recompute;
  const auto ops = model::recompute_ops(*s.model, shape, slot, forward, plan);
  REQUIRE(ops.size() == 1);
  CHECK(ops[0].name == "rc.ffn_act");
  CHECK(ops[0].cost.op_class == config::OpClass::Vector);
  const auto bytes = model::slot_activation_bytes(*s.model, shape, slot);
  const auto split = model::split_activations(bytes, plan);
  CHECK(split.recomputed_bytes == Approx(bytes.at("ffn_activation")));
  // with "ffn" recomputed the activation output goes with it: the FC1 share and one activation function
  plan.modules["ffn"] = ActivationMode::Recompute;
  CHECK(model::split_activations(bytes, plan).recomputed_bytes == Approx(bytes.at("ffn") + bytes.at("ffn_activation")));
  int activation_functions = 0;
  for (const auto& op : model::recompute_ops(*s.model, shape, slot, forward, plan))
    activation_functions += op.name == "rc.ffn_act";
  CHECK(activation_functions == 1);
}

TEST_CASE("uniform groups: every layer recomputed, only each group's first input kept, the group re-run together") {
  const auto s = dense();  // 2 stages of 4 layers
  model::ActivationPlan plan;
  plan.full_recompute = true;
  plan.uniform_groups = true;
  plan.full_recompute_layers = {{2, 2}};
  CHECK(plan.recompute_group(0, 0) == 2);
  CHECK_FALSE(plan.at_slot(0, 0, 0).drop_layer_input);
  CHECK(plan.at_slot(0, 0, 1).drop_layer_input);
  CHECK_FALSE(plan.at_slot(0, 0, 2).drop_layer_input);
  CHECK(plan.at_slot(0, 1, 3).full_recompute);
  // memory, by hand: per layer L = its input, R = the rest; full keeps 4 L per micro-batch plus one layer's R as the
  // working set; groups of 2 keep 2 L, and a group holds R + (R + L) while it is re-run
  const auto stages = model::assign_layers(*s.model, s.parallel);
  const auto bytes = model::slot_activation_bytes(*s.model, model::training_shape(s), {model::SlotKind::Layer, 0});
  double all = 0.0;
  for (const auto& [module, b] : bytes) all += b;
  const double L = bytes.at("layer_input"), R = all - L;
  model::ActivationPlan full;
  full.full_recompute = true;
  const int in_flight = 2;
  const double keep_full = model::stage_memory(s, stages, 0, {in_flight}, full).breakdown.activations_bytes;
  const double keep_groups = model::stage_memory(s, stages, 0, {in_flight}, plan).breakdown.activations_bytes;
  CHECK(keep_full == Approx(4 * L * in_flight + R));
  CHECK(keep_groups == Approx(2 * L * in_flight + 2 * R + L));
  // the builder runs layer 0's recompute with layer 1's, before layer 1's backward (block method: after it)
  auto first = [](const model::OpGraph& g, const std::string& prefix) {
    for (std::size_t i = 0; i < g.ops.size(); ++i) {
      if (g.ops[i].rank == 0 && g.ops[i].name.rfind(prefix, 0) == 0) return i;
    }
    return g.ops.size();
  };
  const json uniform = {{"modules", {{"full", "recompute"}}}, {"full_layers", 2}, {"full_method", "uniform"}};
  const auto grouped = build(with_memory(s, uniform));
  REQUIRE_NOTHROW(model::validate(grouped.graph));
  CHECK(first(grouped.graph, "L0.rc.") < first(grouped.graph, "L1.rc."));
  CHECK(first(grouped.graph, "L1.rc.") < first(grouped.graph, "L1.ffn_fc2_b"));
  const auto block = build(with_memory(s, {{"modules", {{"full", "recompute"}}}}));
  CHECK(first(block.graph, "L0.rc.") > first(block.graph, "L1.ffn_fc2_b"));
  // the same recompute work either way
  auto recompute_flops = [](const model::OpGraph& g) {
    double total = 0.0;
    for (const auto& op : g.ops) total += op.phase == "recompute" ? op.compute.flops : 0.0;
    return total;
  };
  CHECK(recompute_flops(grouped.graph) == Approx(recompute_flops(block.graph)));
  CHECK(strategy::plan_text(strategy::resolve_memory_plan(with_memory(s, uniform), test::stage_orders(s)).plan) ==
        "full recompute (uniform groups of 2 layers)");
  // params
  CHECK(validation_errors(with_memory(s, {{"modules", {{"full", "recompute"}}}, {"full_method", "uniform"}}))
            .find("/params/full_method: chooses how \"full_layers\" counts") != std::string::npos);
  CHECK(validation_errors(
            with_memory(s, {{"modules", {{"full", "recompute"}}}, {"full_layers", 0}, {"full_method", "uniform"}}))
            .find("a count is a group size: expected >= 1") != std::string::npos);
  CHECK(validation_errors(
            with_memory(s, {{"modules", {{"full", "recompute"}}}, {"full_layers", 2}, {"full_method", "rows"}}))
            .find("/params/full_method: expected one of \"block\", \"uniform\"") != std::string::npos);
}

TEST_CASE("MindFormers' 2-D layer counts give each chunk of a stage its own count") {
  const auto s = dense_vpp2();
  const json full = {{"full", "recompute"}};
  const json counts = json::array({json::array({2, 1}), json::array({0, 1})});  // [chunk][stage]
  REQUIRE(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", counts}})).empty());
  const auto m = strategy::resolve_memory_plan(with_memory(s, {{"modules", full}, {"full_layers", counts}}),
                                               test::stage_orders(s));
  CHECK(m.plan.full_recompute_layers == model::LayerCounts{{2, 1}, {0, 1}});
  CHECK(m.plan.at_slot(0, 0, 1).full_recompute);        // chunk 0, stage 0: both layers
  CHECK_FALSE(m.plan.at_slot(1, 0, 0).full_recompute);  // chunk 1, stage 0: none
  CHECK(m.plan.at_slot(1, 1, 0).full_recompute);
  CHECK_FALSE(m.plan.at_slot(1, 1, 1).full_recompute);
  CHECK(m.report["full_layers_per_stage"] == counts);  // reported in the form given
  CHECK(strategy::plan_text(m.plan) ==
        "full recompute (first [[2, 1], [0, 1]] layers per virtual stage, by chunk and "
        "pipeline stage)");
  // a 1-D list applies to every chunk and is reported as one
  const auto per_stage = strategy::resolve_memory_plan(
      with_memory(s, {{"modules", full}, {"full_layers", json::array({2, 1})}}), test::stage_orders(s));
  CHECK(per_stage.plan.full_recompute_layers == model::LayerCounts{{2, 1}, {2, 1}});
  CHECK(per_stage.report["full_layers_per_stage"] == json::array({2, 1}));
  // memory, by hand: stage 0's chunk 0 recomputes both of its layers, chunk 1 none = half the full plan's saving
  const auto stages = model::assign_layers(*s.model, s.parallel);
  model::ActivationPlan every;
  every.full_recompute = true;
  const std::vector<int> in_flight = {1, 1};
  const double keep = model::stage_memory(s, stages, 0, in_flight).breakdown.activations_bytes;
  const double all = model::stage_memory(s, stages, 0, in_flight, every).breakdown.activations_bytes;
  model::ActivationPlan chunk0 = every;
  chunk0.full_recompute_layers = {{2, 2}, {0, 0}};
  const double half = model::stage_memory(s, stages, 0, in_flight, chunk0).breakdown.activations_bytes;
  const auto bytes = model::slot_activation_bytes(*s.model, model::training_shape(s), {model::SlotKind::Layer, 0});
  double layer = 0.0;
  for (const auto& [module, b] : bytes) layer += b;
  const double rest = layer - bytes.at("layer_input");  // what a recomputed layer drops
  CHECK(keep - half == Approx(2 * rest - rest));        // two layers drop theirs, one is the working set again
  CHECK(half > all);
  // the builder recomputes exactly the counted layers: 2 + 1 + 0 + 1 layers of the 8
  const auto step = build(with_memory(s, {{"modules", full}, {"full_layers", counts}}));
  std::set<std::string> recomputed;
  for (const auto& op : step.graph.ops) {
    if (op.phase == "recompute") recomputed.insert(op.name.substr(0, op.name.find('.')));
  }
  CHECK(recomputed.size() == 4);
  // shapes and element errors
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", json::array({json::array({1, 1})})}}))
            .find("/params/full_layers: expected one row per chunk (vpp = 2), got 1") != std::string::npos);
  CHECK(validation_errors(
            with_memory(s, {{"modules", full}, {"full_layers", json::array({json::array({1, 1}), json::array({1})})}}))
            .find("/params/full_layers/1: expected one count per pipeline stage (pp = 2), got 1") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", full}, {"full_layers", json::array({json::array({1, 1}), 2})}}))
            .find("/params/full_layers/1: expected an array of counts") != std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", full},
                                          {"full_layers", json::array({json::array({1, -1}), json::array({1, 1})})}}))
            .find("/params/full_layers/0/1: expected an integer >= 0") != std::string::npos);
}

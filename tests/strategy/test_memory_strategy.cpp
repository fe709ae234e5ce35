// Memory strategy "selective_recompute_swap": params checking, manual and auto plans (auto stops once the step
// fits, prefers hidden swaps, falls back to full recompute), and how the step builder applies a plan: recompute
// ops before the backward, swap copies on their own streams, several steps in one graph.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../model/training_fixtures.hpp"
#include "config/config_error.hpp"
#include "config/scenario_config.hpp"
#include "memory_strategy_fixtures.hpp"
#include "model/model_stats.hpp"
#include "model/training_blocks.hpp"
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

// Tiny MoE (MLA, shared expert, MTP) on 8 ranks of the real Atlas 800T A2 topology: TP 2 + SP, PP 2, DP 2, EP 2 x TP.
config::ScenarioConfig moe_scenario() {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(2, 2, 2, 1, 1, 2, true, true, 1), 4096, 1, 8);
  s.topology = config::load_topology(std::string(MOESIM_SOURCE_DIR) + "/topologies/atlas_800t_a2.json");
  return s;
}

double graph_flops(const model::OpGraph& g, const std::string& phase, bool model_only = true) {
  double total = 0.0;
  for (const auto& op : g.ops) {
    if (op.kind != model::OpKind::Compute || (model_only && op.compute.op_class == config::OpClass::Vector)) continue;
    if (phase.empty() || op.phase == phase) total += op.compute.flops;
  }
  return total;
}

strategy::TrainingStep build(const config::ScenarioConfig& s) {
  strategy::TrainingStepOptions options;
  options.reduce_dp = false;
  return strategy::build_training_step(s, *strategy::make_pipeline_schedule(s), options);
}

}  // namespace

TEST_CASE("memory strategy params: modes, auto-only headroom and unknown modules are checked") {
  const auto s = moe_scenario();
  CHECK(validation_errors(with_memory(s, {{"modules", {{"norm", "swap"}, {"full", "keep"}}}})).empty());
  CHECK(validation_errors(with_memory(s, {{"mode", "auto"}, {"headroom_gib", 2}})).empty());
  CHECK(validation_errors(with_memory(s, {{"modules", {{"norm", "drop"}}}}))
            .find("/strategies/0/params/modules/norm: expected one of \"keep\", \"recompute\", \"swap\"") !=
        std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", {{"full", "swap"}}}})).find("/params/modules/full") !=
        std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", {{"mlp", "recompute"}}}}))
            .find("/params/modules/mlp: unknown key") != std::string::npos);
  CHECK(validation_errors(with_memory(s, json::object())).find("/params/modules: expected per-module modes") !=
        std::string::npos);
  CHECK(validation_errors(with_memory(s, {{"modules", {{"norm", "swap"}}}, {"headroom_gib", 1}}))
            .find("/params/headroom_gib: only with \"mode\": \"auto\"") != std::string::npos);
}

TEST_CASE("manual plan: the given modes, and no strategy keeps everything") {
  const auto s = moe_scenario();
  CHECK(strategy::resolve_memory_plan(s, test::stage_orders(s)).plan.empty());
  CHECK(strategy::resolve_memory_plan(s, test::stage_orders(s)).report.is_null());
  const auto m = strategy::resolve_memory_plan(
      with_memory(s, {{"modules", {{"permute", "swap"}, {"attention_core", "recompute"}}}}), test::stage_orders(s));
  CHECK(m.plan.mode("permute") == ActivationMode::Swap);
  CHECK(m.plan.mode("attention_core") == ActivationMode::Recompute);
  CHECK(m.plan.mode("norm") == ActivationMode::Keep);
  CHECK(m.report["modules"]["permute"] == "swap");
  CHECK(m.report["estimated_activation_saved_fraction"].get<double>() > 0.0);
  CHECK(strategy::plan_text(m.plan) == "attention_core:recompute, permute:swap");
}

TEST_CASE("auto plan stops once the step fits, with the target's headroom") {
  auto s = moe_scenario();
  const strategy::MemoryPlanEstimator keep(s, test::stage_orders(s));
  const double before = keep.peak_memory_bytes({});
  const auto stage0 = model::stage_memory(s, model::assign_layers(*s.model, s.parallel), 0, {2});
  REQUIRE(stage0.breakdown.activations_bytes > 0.2 * kGiB);
  // device memory 40% of the activations short of the peak, 0.1 GiB headroom
  s.topology.device.memory_bytes.value = before - 0.4 * stage0.breakdown.activations_bytes;
  const auto m =
      strategy::resolve_memory_plan(with_memory(s, {{"mode", "auto"}, {"headroom_gib", 0.1}}), test::stage_orders(s));
  INFO(m.report.dump(1));
  CHECK(m.report["fits"] == true);
  CHECK(m.report["peak_memory_after_gib"].get<double>() <= m.report["target_gib"].get<double>());
  CHECK(m.report["target_gib"].get<double>() == Approx(s.topology.device.memory_bytes.value / kGiB - 0.1));
  REQUIRE(!m.report["choices"].empty());
  for (const auto& c : m.report["choices"]) CHECK(c["peak_memory_saved_gib"].get<double>() > 0.0);
  CHECK_FALSE(m.plan.full_recompute);
  // one choice fewer would not have fitted: auto stops at the first plan that fits
  auto fewer = m.plan;
  fewer.modules.erase(m.report["choices"].back()["module"].get<std::string>());
  const strategy::MemoryPlanEstimator estimator(s, test::stage_orders(s));
  CHECK(estimator.peak_memory_bytes(fewer) / kGiB > m.report["target_gib"].get<double>());
}

TEST_CASE("auto plan prefers hidden swaps on a fast host link and recompute on a slow one") {
  auto s = moe_scenario();
  const strategy::MemoryPlanEstimator keep(s, test::stage_orders(s));
  s.topology.device.memory_bytes.value = keep.peak_memory_bytes({}) - 0.05 * kGiB;
  s.topology.device.host_link_bandwidth_bytes_per_s.value = 1e15;  // copies take no time: every swap hides
  auto fast = strategy::resolve_memory_plan(with_memory(s, {{"mode", "auto"}}), test::stage_orders(s));
  REQUIRE(!fast.report["choices"].empty());
  CHECK(fast.report["choices"][0]["mode"] == "swap");
  CHECK(fast.report["choices"][0]["estimated_added_time_s"].get<double>() == Approx(0.0).margin(1e-12));
  s.topology.device.host_link_bandwidth_bytes_per_s.value = 1e6;  // 1 MB/s: any swap is exposed for seconds
  auto slow = strategy::resolve_memory_plan(with_memory(s, {{"mode", "auto"}}), test::stage_orders(s));
  REQUIRE(!slow.report["choices"].empty());
  for (const auto& c : slow.report["choices"]) CHECK(c["mode"] == "recompute");
}

TEST_CASE("auto plan falls back to full recompute and reports when even that does not fit") {
  auto s = moe_scenario();
  s.topology.device.memory_bytes.value = 1.0 * kGiB;  // below weights + optimizer states
  const auto m = strategy::resolve_memory_plan(with_memory(s, {{"mode", "auto"}}), test::stage_orders(s));
  CHECK(m.report["fits"] == false);
  CHECK(m.plan.full_recompute);
  CHECK(m.report["choices"].back()["module"] == "full");
  // with full pinned to keep, auto never chooses it
  const auto pinned = strategy::resolve_memory_plan(with_memory(s, {{"mode", "auto"}, {"modules", {{"full", "keep"}}}}),
                                                    test::stage_orders(s));
  CHECK_FALSE(pinned.plan.full_recompute);
}

TEST_CASE("step builder: full recompute adds one forward of every layer before its backward") {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(2, 2, 2, 1, 1, 1, false, true), 1024, 1, 8);
  const auto base = build(s);
  const auto full = build(with_memory(s, {{"modules", {{"full", "recompute"}}}}));
  REQUIRE_NOTHROW(model::validate(full.graph));
  const auto shape = model::training_shape(s);
  const double layer = model::block_flops(model::layer_forward(*s.model, shape, false), true);
  const int micro_batches = 4, ranks_per_stage = 4;
  CHECK(graph_flops(full.graph, "recompute") == Approx(8 * layer * micro_batches * ranks_per_stage));
  CHECK(graph_flops(full.graph, "") == Approx(graph_flops(base.graph, "") + graph_flops(full.graph, "recompute")));
  // the recompute of a layer runs right before that layer's first backward op on the compute stream
  std::size_t rc = 0, dx = 0;
  for (std::size_t i = 0; i < full.graph.ops.size(); ++i) {
    const auto& op = full.graph.ops[i];
    if (op.rank != 0 || op.kind != model::OpKind::Compute) continue;
    if (op.name == "L3.rc.ffn_fc1" && rc == 0) rc = i;
    if (op.name == "L3.ffn_fc2_b" && dx == 0) dx = i;
  }
  REQUIRE(rc > 0);
  CHECK(rc < dx);
}

TEST_CASE("step builder: swapped activations go out after the forward and come back before the backward") {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 1), 1024, 1, 4);
  s.topology.device.host_link_bandwidth_bytes_per_s.value = 32e9;
  const auto step = build(with_memory(s, {{"modules", {{"attention_core", "swap"}}}}));
  REQUIRE_NOTHROW(model::validate(step.graph));
  const auto bytes = model::slot_activation_bytes(*s.model, model::training_shape(s), {model::SlotKind::Layer, 0});
  int out = 0, in = 0;
  for (const auto& op : step.graph.ops) {
    if (op.kind != model::OpKind::Delay) continue;
    if (op.phase == "swap_out") {
      ++out;
      CHECK(op.stream == 7);
      CHECK(op.delay_s == Approx(bytes.at("attention_core") / 32e9));
    }
    if (op.phase == "swap_in") {
      ++in;
      CHECK(op.stream == 8);
      const auto& source = step.graph.ops[static_cast<std::size_t>(op.deps.front())];
      CHECK(source.phase == "swap_out");  // copied back only after it went out
      CHECK(source.name == op.name.substr(0, op.name.find('.')) + ".swap_out");
    }
  }
  // stage 0's 4 layers x 4 micro-batches; the last stage never holds two micro-batches (1F1B), so it keeps them
  CHECK(out == 4 * 4);
  CHECK(in == out);
  s.topology.device.host_link_bandwidth_bytes_per_s.value = 0.0;
  CHECK_THROWS_AS(build(with_memory(s, {{"modules", {{"attention_core", "swap"}}}})), std::invalid_argument);
}

TEST_CASE("step builder: several steps follow each other, each waiting for the previous parameter AllGathers") {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(2, 2, 2), 1024, 1, 8);
  const auto one = build(s);
  s.training->steps = 3;
  const auto three = build(s);
  REQUIRE_NOTHROW(model::validate(three.graph));
  CHECK(three.graph.ops.size() == 3 * one.graph.ops.size());
  REQUIRE(three.step_first_op == std::vector<std::size_t>{0, one.graph.ops.size(), 2 * one.graph.ops.size()});
  const auto& first = three.graph.ops[three.step_first_op[1]];  // step 2's first op: rank 0's embedding
  REQUIRE(first.kind == model::OpKind::Compute);
  bool waits_for_gather = false;
  for (auto dep : first.deps) waits_for_gather |= three.graph.ops[static_cast<std::size_t>(dep)].name == "param_ag";
  CHECK(waits_for_gather);
}

TEST_CASE("auto plan on the Ultra MoE 718B layout: fits at 8K tokens, saves over 60% with a 30 GiB headroom") {
  const std::string file = std::string(MOESIM_SOURCE_DIR) + "/scenarios/ultra_moe_718b_train_6144.json";
  const std::string auto_mode = R"(strategies=[{"name": "selective_recompute_swap", "params": {"mode": "auto"}}])";
  // as shipped (seq 4096) the step fits: auto keeps everything
  const auto shipped = config::load_scenario(file, {auto_mode});
  const auto as_is = strategy::resolve_memory_plan(shipped, test::stage_orders(shipped));
  CHECK(as_is.report["fits"] == true);
  CHECK(as_is.report["choices"].empty());
  // seq 8192 does not fit (activations double): auto makes it fit
  const auto long_seq = config::load_scenario(file, {auto_mode, "training.seq_len=8192"});
  const auto fit = strategy::resolve_memory_plan(long_seq, test::stage_orders(long_seq));
  CHECK(fit.report["peak_memory_before_gib"].get<double>() > 64.0);
  CHECK(fit.report["fits"] == true);
  CHECK(fit.report["estimated_activation_saved_fraction"].get<double>() > 0.4);
  // a 30 GiB headroom at seq 4096 asks for more: over 60% of the activations (published: ~70%)
  const auto headroom = config::load_scenario(
      file, {R"(strategies=[{"name": "selective_recompute_swap", "params": {"mode": "auto", "headroom_gib": 30}}])"});
  const auto deep = strategy::resolve_memory_plan(headroom, test::stage_orders(headroom));
  CHECK(deep.report["fits"] == true);
  CHECK(deep.report["estimated_activation_saved_fraction"].get<double>() >= 0.6);
}

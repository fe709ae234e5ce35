// Memory strategy on the engine (each simulation in a forked child): full recompute costs one extra forward per
// backward and frees most activation memory; swaps on a fast host link hide under compute, on a slow one they
// show; several steps report per-step times.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../engine/test_fixtures.hpp"
#include "../model/training_fixtures.hpp"
#include "../strategy/memory_strategy_fixtures.hpp"
#include "metrics/training_metrics.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;
using nlohmann::json;

namespace {

struct Run {
  strategy::TrainingStep step;
  engine::SimulationResult result;
};

Run simulate(const config::ScenarioConfig& s) {
  Run run{strategy::build_training_step(s, *strategy::make_pipeline_schedule(s)), {}};
  const auto times = test::simulate_in_child(s.topology, run.step.graph);
  run.result.makespan_s = times.at(0);
  for (std::size_t i = 1; i + 1 < times.size(); i += 2) run.result.ops.push_back({times[i], times[i + 1]});
  return run;
}

// The tiny dense model over 4 stages of one node (fast mesh: PP transfers negligible), 1F1B, 8 micro-batches.
config::ScenarioConfig dense_pipeline(const json& memory_params = nullptr) {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 4, 1), 2048, 1, 8);
  s.topology = test::tiny_topology(1, 4, {test::mesh(400e9, 1e-6)});
  return memory_params.is_null() ? s : test::with_memory(s, memory_params);
}

double phase_time_on_rank(const Run& run, int rank, const std::string& phase, bool forward_only = false) {
  double total = 0.0;
  for (std::size_t i = 0; i < run.step.graph.ops.size(); ++i) {
    const auto& op = run.step.graph.ops[i];
    if (op.rank != rank || op.kind != model::OpKind::Compute) continue;
    const bool backward = op.name.size() > 2 &&
                          (op.name.substr(op.name.size() - 2) == "_b" || op.name.substr(op.name.size() - 2) == "_w");
    const bool match =
        forward_only ? (op.phase != "recompute" && op.phase != "optimizer" && !backward) : op.phase == phase;
    if (match) total += run.result.ops[i].end_s - run.result.ops[i].start_s;
  }
  return total;
}

}  // namespace

TEST_CASE("dense full recompute costs one extra forward per backward and frees the activations") {
  const auto base = simulate(dense_pipeline());
  const auto full = simulate(dense_pipeline({{"modules", {{"full", "recompute"}}}}));
  // stage 1 holds layers only: its recompute time is its forward time
  const double forward_s = phase_time_on_rank(base, 1, "", true);
  const double recompute_s = phase_time_on_rank(full, 1, "recompute");
  CHECK(recompute_s == Approx(forward_s).epsilon(0.01));
  // 1F1B with equal stages: step = (m + p - 1) x (F + B); recompute adds F per backward
  const double per_micro_batch = recompute_s / 8;
  CHECK(full.result.makespan_s - base.result.makespan_s == Approx(11 * per_micro_batch).epsilon(0.05));
  const auto m =
      metrics::training_metrics(dense_pipeline({{"modules", {{"full", "recompute"}}}}), full.step.graph, full.result);
  const auto b = metrics::training_metrics(dense_pipeline(), base.step.graph, base.result);
  // recompute FLOPs = the layers' forward = 1/3 of the model FLOPs (the tiny vocabulary's head is negligible)
  CHECK(m["recompute_flops_fraction"].get<double>() == Approx(1.0 / 3.0).epsilon(0.02));
  CHECK(m["activation_memory_saved_fraction"].get<double>() > 0.8);
  CHECK(m["memory_breakdown_gib"]["activations"].get<double>() <
        0.2 * b["memory_breakdown_gib"]["activations"].get<double>());
  CHECK(m["mfu"].get<double>() < b["mfu"].get<double>());  // model FLOPs unchanged, step longer
  CHECK(m["activation_plan"] == "full recompute");
  CHECK(b["activation_memory_saved_fraction"].get<double>() == 0.0);
  CHECK_FALSE(b.contains("activation_plan"));
}

TEST_CASE("Megatron selective recompute (attention core) costs less time and saves less memory than full") {
  const auto full = simulate(dense_pipeline({{"modules", {{"full", "recompute"}}}}));
  const auto core = simulate(dense_pipeline({{"modules", {{"attention_core", "recompute"}}}}));
  const auto base = simulate(dense_pipeline());
  CHECK(core.result.makespan_s > base.result.makespan_s);
  CHECK(core.result.makespan_s < full.result.makespan_s);
  const auto m = metrics::training_metrics(dense_pipeline({{"modules", {{"attention_core", "recompute"}}}}),
                                           core.step.graph, core.result);
  CHECK(m["activation_memory_saved_fraction"].get<double>() > 0.05);
  CHECK(m["activation_memory_saved_fraction"].get<double>() < 0.8);
}

TEST_CASE("swaps hide under compute on a fast host link and show on a slow one") {
  const json swap = {{"modules", {{"norm", "swap"}, {"attention_core", "swap"}}}};
  const auto base = simulate(dense_pipeline());
  auto fast_s = dense_pipeline(swap);
  fast_s.topology.device.host_link_bandwidth_bytes_per_s.value = 32e9;
  const auto fast = simulate(fast_s);
  CHECK(fast.result.makespan_s == Approx(base.result.makespan_s).epsilon(0.02));
  const auto m = metrics::training_metrics(fast_s, fast.step.graph, fast.result);
  CHECK(m["swap_gib_per_npu"].get<double>() > 0.0);
  CHECK(m["activation_memory_saved_fraction"].get<double>() > 0.2);
  auto slow_s = dense_pipeline(swap);
  slow_s.topology.device.host_link_bandwidth_bytes_per_s.value = 0.5e9;
  const auto slow = simulate(slow_s);
  CHECK(slow.result.makespan_s > 1.2 * base.result.makespan_s);
}

TEST_CASE("several steps: per-step times, each like a single step, and their mean") {
  auto s = dense_pipeline();
  s.parallel.dp = 2;
  s.parallel.pp = 2;
  s.ranks = 4;
  s.training->global_batch_size = 16;
  const auto one = simulate(s);
  s.training->steps = 3;
  const auto three = simulate(s);
  const auto m = metrics::training_metrics(s, three.step.graph, three.result, three.step.step_first_op);
  REQUIRE(m["step_times_s"].size() == 3);
  for (const auto& t : m["step_times_s"]) CHECK(t.get<double>() == Approx(one.result.makespan_s).epsilon(0.01));
  CHECK(m["step_time_s"].get<double>() == Approx(three.result.makespan_s / 3).epsilon(1e-9));
  const auto single = metrics::training_metrics(s, one.step.graph, one.result);
  CHECK(m["bubble_fraction"].get<double>() == Approx(single["bubble_fraction"].get<double>()).epsilon(0.02));
}

TEST_CASE("full recompute of the first of each stage's two layers costs half of full recompute's extra time") {
  const auto base = simulate(dense_pipeline());
  const auto full = simulate(dense_pipeline({{"modules", {{"full", "recompute"}}}}));
  const json first_layer = {{"modules", {{"full", "recompute"}}}, {"full_layers", 1}};
  const auto half = simulate(dense_pipeline(first_layer));
  // equal stages of 2 layers: the recompute per backward is one layer's forward instead of two
  CHECK(half.result.makespan_s - base.result.makespan_s ==
        Approx(0.5 * (full.result.makespan_s - base.result.makespan_s)).epsilon(0.05));
  CHECK(phase_time_on_rank(half, 1, "recompute") ==
        Approx(0.5 * phase_time_on_rank(full, 1, "recompute")).epsilon(0.01));
  const auto m = metrics::training_metrics(dense_pipeline(first_layer), half.step.graph, half.result);
  const auto f =
      metrics::training_metrics(dense_pipeline({{"modules", {{"full", "recompute"}}}}), full.step.graph, full.result);
  CHECK(m["activation_memory_saved_fraction"].get<double>() > 0.3);
  CHECK(m["activation_memory_saved_fraction"].get<double>() < f["activation_memory_saved_fraction"].get<double>());
  CHECK(m["activation_plan"] == "full recompute (first 1 layer per virtual stage)");
}

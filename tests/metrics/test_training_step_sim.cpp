// Training step on the engine (each simulation in a forked child: one SimGrid run per process): the 1F1B bubble
// measured on the timeline matches (p-1)/(m+p-1); interleaving shrinks it; the DP-symmetry reduction reproduces
// the full simulation's step time at 512 ranks; memory and OOM reach the metrics.
#include <catch2/catch.hpp>

#include "../engine/test_fixtures.hpp"
#include "../model/training_fixtures.hpp"
#include "metrics/training_metrics.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;

namespace {

struct Run {
  strategy::TrainingStep step;
  engine::SimulationResult result;
};

Run simulate_step(config::ScenarioConfig s, bool reduce_dp = true, const engine::EngineOptions& engine = {}) {
  strategy::TrainingStepOptions options;
  options.reduce_dp = reduce_dp;
  Run run{strategy::build_training_step(s, *strategy::make_pipeline_schedule(s), options), {}};
  const auto times = test::simulate_in_child(s.topology, run.step.graph, engine);
  run.result.makespan_s = times.at(0);
  for (std::size_t i = 1; i + 1 < times.size(); i += 2) run.result.ops.push_back({times[i], times[i + 1]});
  return run;
}

// One node of 4 ranks (fast mesh so that PP transfers are negligible), the tiny dense model over 4 stages.
config::ScenarioConfig pipeline_scenario(int vpp, int micro_batches) {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 4, 1, vpp), 2048, 1, micro_batches);
  s.topology = test::tiny_topology(1, 4, {test::mesh(400e9, 1e-6)});
  return s;
}

// The full step (no DP reduction) with an engine option off, then on.
std::pair<Run, Run> off_and_on(const config::ScenarioConfig& s, bool engine::EngineOptions::*option) {
  engine::EngineOptions off;
  off.*option = false;
  engine::EngineOptions on;
  on.*option = true;
  return {simulate_step(s, false, off), simulate_step(s, false, on)};
}

// Tiny MoE, TP 8 (in a node), EP 2 x TP (16-way over 2 replicas), PP 2, DP 32 = 512 ranks on 64 nodes of 8 (HCCS
// mesh in a node, a Clos of 4 nodes per leaf between them), 64 micro-batches.
config::ScenarioConfig moe_512_scenario() {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(8, 2, 32, 1, 1, 2, true, true, 1), 2048, 1, 64);
  s.topology = test::tiny_topology(64, 8, {test::mesh(50e9, 2e-6), test::clos(25e9, 5e-6, 4, 1.0, 2e-6)});
  return s;
}

}  // namespace

TEST_CASE("1F1B bubble measured on the simulated timeline matches (p-1)/(m+p-1)") {
  const auto s = pipeline_scenario(1, 8);
  const auto run = simulate_step(s);
  const auto timeline = metrics::pipeline_timeline(run.step.graph, run.result);
  CHECK(timeline.bubble_fraction == Approx(3.0 / 11.0).epsilon(0.03));
  CHECK(timeline.exposed_comm_fraction < 0.02);  // tp 1, dp 1: only the PP transfers
}

TEST_CASE("interleaved 1F1B has a smaller measured bubble than 1F1B") {
  const auto plain = simulate_step(pipeline_scenario(1, 8));
  const auto interleaved = simulate_step(pipeline_scenario(2, 8));
  const double b1 = metrics::pipeline_timeline(plain.step.graph, plain.result).bubble_fraction;
  const double b2 = metrics::pipeline_timeline(interleaved.step.graph, interleaved.result).bubble_fraction;
  CHECK(b2 < 0.8 * b1);
  CHECK(b2 == Approx(3.0 / 19.0).epsilon(0.1));  // (p-1)/(vpp m + p-1)
  CHECK(interleaved.result.makespan_s < plain.result.makespan_s);
}

TEST_CASE("DP-symmetry reduction matches the full simulation within 2% at 512 ranks") {
  auto s = moe_512_scenario();
  const auto reduced = simulate_step(s, true);
  const auto full = simulate_step(s, false);
  REQUIRE(reduced.step.simulated_dp == 4);
  REQUIRE(full.step.graph.num_ranks == 512);
  CHECK(reduced.result.makespan_s == Approx(full.result.makespan_s).epsilon(0.02));
}

TEST_CASE("cross-node flow aggregation matches the unmerged training step within 2% at 512 ranks") {
  // Same layout as above: 16-way EP all-to-all-vs over 2 nodes share the Clos NICs with DP rings and PP transfers.
  auto s = moe_512_scenario();
  const auto [a, b] = off_and_on(s, &engine::EngineOptions::aggregate_cross_node_flows);
  REQUIRE(a.step.graph.num_ranks == 512);
  CHECK(b.result.makespan_s == Approx(a.result.makespan_s).epsilon(0.02));
}

TEST_CASE("analytic pair-link flows give the fully simulated training step at 512 ranks") {
  // TP 8 collectives and the intra-node part of the EP all-to-alls run on HCCS pair links; PP, DP and the
  // cross-node part of the all-to-alls share the Clos NICs. Exact up to floating point.
  auto s = moe_512_scenario();
  const auto [a, b] = off_and_on(s, &engine::EngineOptions::analytic_pair_links);
  REQUIRE(a.step.graph.num_ranks == 512);
  CHECK(b.result.makespan_s == Approx(a.result.makespan_s).epsilon(1e-9));
}

TEST_CASE("mesh folding gives the unfolded training step at 512 ranks with hierarchical EP and Adaptive Pipe") {
  // TP collectives and the in-node EP all-to-alls share the HCCS pair links from different streams (no analytic
  // flows there); folding must reproduce every op time.
  auto s = moe_512_scenario();
  s.strategies.push_back({"hierarchical_ep", nlohmann::json::object(), "/strategies/0"});
  s.strategies.push_back({"adaptive_pipe", nlohmann::json::object(), "/strategies/1"});
  const auto [a, b] = off_and_on(s, &engine::EngineOptions::fold_symmetric_meshes);
  REQUIRE(a.step.graph.num_ranks == 512);
  REQUIRE(a.result.ops.size() == b.result.ops.size());
  CHECK(b.result.makespan_s == Approx(a.result.makespan_s).epsilon(1e-9));
  double worst = 0.0;  // largest relative difference of an op's end time
  for (std::size_t i = 0; i < a.result.ops.size(); ++i) {
    const double x = a.result.ops[i].end_s, y = b.result.ops[i].end_s;
    worst = std::max(worst, std::abs(y - x) / std::max(std::abs(x), 1e-12));
  }
  CHECK(worst < 1e-9);
  const auto counts = test::simulate_in_child_with(s.topology, b.step.graph, {}, [](const auto& r) {
    return std::vector<double>{static_cast<double>(r.flows), static_cast<double>(r.folded_flows)};
  });
  CHECK(counts[1] > 2.0 * counts[0]);  // most in-node flows are folded
}

TEST_CASE("training metrics report MFU from model FLOPs, memory and the OOM verdict with its breakdown") {
  auto s = pipeline_scenario(1, 8);
  s.ranks = 4;
  s.topology.device.memory_bytes.value = 0.25 * 1024 * 1024 * 1024;  // far too small: OOM is a result
  const auto run = simulate_step(s);
  const auto m = metrics::training_metrics(s, run.step.graph, run.result);
  const double flops = metrics::training_model_flops(s);
  CHECK(m["mfu"].get<double>() == Approx(flops / (run.result.makespan_s * 4 * 100e12)));
  CHECK(m["mfu"].get<double>() < 1.0);
  CHECK(m["tokens_per_s"].get<double>() == Approx(8 * 2048 / run.result.makespan_s));
  CHECK(m["oom"].get<bool>());
  CHECK(m["oom_rank"].get<int>() == 0);  // stage 0 holds the most in-flight micro-batches
  CHECK(m["peak_memory_gib"].get<double>() > 0.25);
  CHECK(m["memory_breakdown_gib"]["activations"].get<double>() > 0.0);
  CHECK(m["phase_time_s"].contains("pp_comm"));
}

TEST_CASE(
    "mirrored ranks give the full training step at 512 ranks, op for op, with hierarchical EP and Adaptive Pipe") {
  // Every TP group is a whole node and the expert load is uniform, so each rank runs as its node's first rank:
  // only 64 of the 512 ranks are simulated and the other 448 get their timings.
  auto s = moe_512_scenario();
  s.strategies.push_back({"hierarchical_ep", nlohmann::json::object(), "/strategies/0"});
  s.strategies.push_back({"adaptive_pipe", nlohmann::json::object(), "/strategies/1"});
  const auto [a, b] = off_and_on(s, &engine::EngineOptions::mirror_symmetric_ranks);
  REQUIRE(a.step.graph.num_ranks == 512);
  REQUIRE(a.result.ops.size() == b.result.ops.size());
  CHECK(b.result.makespan_s == Approx(a.result.makespan_s).epsilon(1e-12));
  double worst = 0.0;  // largest relative difference of an op's start or end
  for (std::size_t i = 0; i < a.result.ops.size(); ++i) {
    for (const auto& [x, y] : {std::pair{a.result.ops[i].start_s, b.result.ops[i].start_s},
                               std::pair{a.result.ops[i].end_s, b.result.ops[i].end_s}}) {
      worst = std::max(worst, std::abs(y - x) / std::max(std::abs(x), 1e-12));
    }
  }
  CHECK(worst < 1e-12);
  auto counts = [](const engine::SimulationResult& r) {
    return std::vector<double>{static_cast<double>(r.mirrored_ranks), static_cast<double>(r.events)};
  };
  engine::EngineOptions unmirrored;
  unmirrored.mirror_symmetric_ranks = false;
  const auto on = test::simulate_in_child_with(s.topology, b.step.graph, {}, counts);
  const auto off = test::simulate_in_child_with(s.topology, a.step.graph, unmirrored, counts);
  CHECK(on[0] == 448);
  CHECK(off[0] == 0);
  CHECK(on[1] < off[1] / 6.0);
}

TEST_CASE("mirrored ranks under a skewed expert load give the full training step at 512 ranks, op for op") {
  // A Zipf load makes the ranks of a node unequal (each holds other experts), so no shift of local indices holds;
  // but the expert-parallel groups (2 nodes each) meet the same load, so whole nodes mirror whole nodes. A shift by
  // one group (2 nodes) is refused: Clos leaves hold 4 nodes, so a flow inside a leaf would have an image across the
  // spine. A shift by two groups (one leaf) holds: 64 of the 512 ranks are simulated.
  auto s = moe_512_scenario();
  s.training->expert_load.distribution = config::ExpertLoadDistribution::Zipf;
  s.training->expert_load.exponent = 1.0;
  s.strategies.push_back({"hierarchical_ep", nlohmann::json::object(), "/strategies/0"});
  const auto [a, b] = off_and_on(s, &engine::EngineOptions::mirror_symmetric_ranks);
  REQUIRE(a.result.ops.size() == b.result.ops.size());
  CHECK(b.result.makespan_s == Approx(a.result.makespan_s).epsilon(1e-12));
  double worst = 0.0;
  for (std::size_t i = 0; i < a.result.ops.size(); ++i) {
    for (const auto& [x, y] : {std::pair{a.result.ops[i].start_s, b.result.ops[i].start_s},
                               std::pair{a.result.ops[i].end_s, b.result.ops[i].end_s}}) {
      worst = std::max(worst, std::abs(y - x) / std::max(std::abs(x), 1e-12));
    }
  }
  CHECK(worst < 1e-12);
  const auto on = test::simulate_in_child_with(s.topology, b.step.graph, {}, [](const engine::SimulationResult& r) {
    return std::vector<double>{static_cast<double>(r.mirrored_ranks), static_cast<double>(r.mirror_period),
                               static_cast<double>(r.mirror_shift)};
  });
  CHECK(on == std::vector<double>{448, 256, 32});
}

// Adaptive Pipe and zero-bubble on the engine (each simulation in a forked child): on a tiny MoE layout whose EP
// all-to-alls are about as long as the compute around them, the overlapped step is shorter, EP time is hidden
// (ep_comm_hidden_fraction in [0, 1], higher with the strategy, the saving bounded by the EP time that was exposed);
// ZB-H1's measured bubble is smaller than 1F1B's.
#include <catch2/catch.hpp>
#include <map>

#include "../engine/test_fixtures.hpp"
#include "../model/training_fixtures.hpp"
#include "metrics/ep_overlap.hpp"
#include "metrics/training_metrics.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;

namespace {

struct Run {
  strategy::TrainingStep step;
  engine::SimulationResult result;
};

Run simulate_step(const config::ScenarioConfig& s) {
  Run run{strategy::build_training_step(s, *strategy::make_pipeline_schedule(s)), {}};
  const auto times = test::simulate_in_child(s.topology, run.step.graph, {});
  run.result.makespan_s = times.at(0);
  for (std::size_t i = 1; i + 1 < times.size(); i += 2) run.result.ops.push_back({times[i], times[i + 1]});
  return run;
}

// Tiny MoE (MLA, 16 experts top-2, shared expert) with 8 MoE layers and no MTP, so that the 4 virtual stages are
// equal; TP 1, PP 2 x VPP 2, DP 4 = EP 4, one node of 8 ranks, 8 micro-batches of 2048 tokens. The slow mesh makes
// each all-to-all (~0.4 ms) comparable to the compute it can hide under.
config::ScenarioConfig moe_scenario(const std::vector<config::StrategySpec>& strategies) {
  auto model = test::tiny_moe_model();
  model.num_layers = 8;
  model.num_dense_layers = 0;
  model.mtp_layers = 0;
  auto s = test::training_scenario(model, test::layout(1, 2, 4, 2, 1, 4), 2048, 1, 32);
  s.topology = test::tiny_topology(1, 8, {test::mesh(10e9, 2e-6)});
  s.strategies = strategies;
  return s;
}

config::StrategySpec spec(const std::string& name, nlohmann::json params = nlohmann::json::object()) {
  return {name, std::move(params), "/strategies/0"};
}

}  // namespace

TEST_CASE("adaptive_pipe shortens the step and hides EP all-to-all time under compute") {
  const auto plain = simulate_step(moe_scenario({}));
  const auto overlapped = simulate_step(moe_scenario({spec("adaptive_pipe")}));
  const auto e0 = metrics::ep_overlap(plain.step.graph, plain.result);
  const auto e1 = metrics::ep_overlap(overlapped.step.graph, overlapped.result);
  REQUIRE(e0.ranks == 8);
  REQUIRE(e1.ranks == 8);
  // without overlap every all-to-all blocks the compute stream: (almost) nothing is covered
  CHECK(e0.hidden_fraction >= 0.0);
  CHECK(e0.hidden_fraction < 0.05);
  CHECK(e1.hidden_fraction > e0.hidden_fraction + 0.3);
  CHECK(e1.hidden_fraction <= 1.0);
  CHECK(e1.exposed_s < e0.exposed_s);
  // the step gets shorter, but by no more than the EP time that was exposed on a rank
  CHECK(overlapped.result.makespan_s < 0.95 * plain.result.makespan_s);
  CHECK(plain.result.makespan_s - overlapped.result.makespan_s < e0.exposed_s);
  const auto m =
      metrics::training_metrics(moe_scenario({spec("adaptive_pipe")}), overlapped.step.graph, overlapped.result);
  CHECK(m["overlap"] == "adaptive_pipe");
  CHECK(m["ep_comm_hidden_fraction"].get<double>() == Approx(e1.hidden_fraction));
}

namespace {

bool backward_op(const std::string& name) {
  return name.size() > 2 &&
         (name.compare(name.size() - 2, 2, "_b") == 0 || name.compare(name.size() - 2, 2, "_w") == 0);
}

}  // namespace

TEST_CASE("adaptive_pipe steady phase: a pair starts when both its inputs are there, and hides more EP time there") {
  const auto s = moe_scenario({spec("adaptive_pipe")});
  const auto run = simulate_step(s);
  const auto& graph = run.step.graph;
  REQUIRE(run.step.steady_phases.size() == 2);  // one per stage, one step
  for (const auto& phase : run.step.steady_phases) {
    CHECK(phase.first_op < phase.end_op);
    CHECK(phase.ranks.size() == 4);
    // every gradient received from the next stage inside the phase is waited for by a forward compute op too (the
    // paired forward), not only by the backward's ops
    std::map<model::OpId, bool> gradient_waited_by_forward;
    for (std::size_t id = phase.first_op; id < phase.end_op; ++id) {
      const auto& op = graph.ops[id];
      for (auto dep : op.deps) {
        if (graph.ops[static_cast<std::size_t>(dep)].stream != 5) continue;  // gradient receive stream
        auto& seen = gradient_waited_by_forward[dep];
        seen = seen || (op.kind == model::OpKind::Compute && op.stream == 0 && !backward_op(op.name));
      }
    }
    if (phase.stage == 0) {  // stage 1 holds the last virtual stage's chunk too, whose gradient is the loss
      REQUIRE_FALSE(gradient_waited_by_forward.empty());
      for (const auto& [recv, waited] : gradient_waited_by_forward) CHECK(waited);
    }
  }
  const auto ep = metrics::ep_overlap(graph, run.result, run.step.steady_phases);
  REQUIRE(ep.steady_ranks == 8);
  CHECK(ep.steady_share > 0.2);
  CHECK(ep.steady_share < 1.0);
  CHECK(ep.steady_hidden_fraction > ep.hidden_fraction);  // warm-up forwards have little to hide under
  CHECK(ep.steady_hidden_fraction <= 1.0);
  const auto m = metrics::training_metrics(s, graph, run.result, run.step.step_first_op, run.step.steady_phases);
  CHECK(m["ep_comm_hidden_fraction_steady"].get<double>() == Approx(ep.steady_hidden_fraction));
  CHECK(m["ep_comm_steady_share"].get<double>() == Approx(ep.steady_share));
}

TEST_CASE("adaptive_pipe: 1F1B pairs and warm-up/cool-down hiding each hide part of the EP time") {
  const auto plain = simulate_step(moe_scenario({}));
  const auto pairs_only = simulate_step(moe_scenario({spec("adaptive_pipe", {{"hide_in_warmup_cooldown", false}})}));
  const auto single_only = simulate_step(moe_scenario({spec("adaptive_pipe", {{"pair_forward_backward", false}})}));
  const auto both = simulate_step(moe_scenario({spec("adaptive_pipe")}));
  const double h0 = metrics::ep_overlap(plain.step.graph, plain.result).hidden_fraction;
  const double hp = metrics::ep_overlap(pairs_only.step.graph, pairs_only.result).hidden_fraction;
  const double hs = metrics::ep_overlap(single_only.step.graph, single_only.result).hidden_fraction;
  const double hb = metrics::ep_overlap(both.step.graph, both.result).hidden_fraction;
  CHECK(hp > h0 + 0.1);
  CHECK(hs > h0 + 0.1);
  CHECK(hb > std::max(hp, hs));
  CHECK(both.result.makespan_s < std::min(pairs_only.result.makespan_s, single_only.result.makespan_s));
}

namespace {

// The same tiny MoE over 2 nodes per stage: TP 2 (extended into EP) x DP 2, EP 4 = 2 nodes x 2 ranks, with
// hierarchical EP (AllGather across the nodes, AllToAllV inside), a slow network; PP 2 x VPP 2, 8 micro-batches.
config::ScenarioConfig hierarchical_scenario(nlohmann::json overlap_params) {
  auto model = test::tiny_moe_model();
  model.num_layers = 8;
  model.num_dense_layers = 0;
  model.mtp_layers = 0;
  auto s = test::training_scenario(model, test::layout(2, 2, 2, 2, 1, 2, true, true), 2048, 1, 16);
  s.topology = test::tiny_topology(4, 2, {test::mesh(50e9, 2e-6), test::clos(5e9, 5e-6, 4, 1.0, 1e-6)});
  s.strategies = {spec("hierarchical_ep")};
  if (!overlap_params.is_null()) {
    s.strategies.push_back({"adaptive_pipe", std::move(overlap_params), "/strategies/1"});
  }
  return s;
}

}  // namespace

TEST_CASE("hierarchical EP under adaptive_pipe: AllGather and AllToAllV run async on their own streams and hide") {
  const auto plain = simulate_step(hierarchical_scenario(nullptr));
  const auto overlapped = simulate_step(hierarchical_scenario(nlohmann::json::object()));
  // every EP collective async: the cross-node AllGather / ReduceScatter on stream 10, the AllToAllV on 9; the
  // permutations between them on the overlap stream 11
  int outer = 0, inner = 0, stage_compute = 0;
  for (const auto& op : overlapped.step.graph.ops) {
    if (op.phase == "ep_comm") {
      const bool cross_node = op.name.find("ep_ag") != std::string::npos || op.name.find("ep_rs") != std::string::npos;
      CHECK(op.stream == (cross_node ? 10 : 9));
      (cross_node ? outer : inner) += 1;
    }
    if (op.stream == 11) {
      CHECK(op.kind == model::OpKind::Compute);
      CHECK((op.name.find("permute") != std::string::npos));  // permute / unpermute and their gradients only
      ++stage_compute;
    }
  }
  CHECK(outer > 0);
  CHECK(inner == outer);
  CHECK(stage_compute == outer);  // one permutation inside each stage
  const auto e0 = metrics::ep_overlap(plain.step.graph, plain.result);
  const auto e1 = metrics::ep_overlap(overlapped.step.graph, overlapped.result);
  INFO("hidden " << e0.hidden_fraction << " -> " << e1.hidden_fraction << ", step " << plain.result.makespan_s << " -> "
                 << overlapped.result.makespan_s << " s");
  CHECK(e0.hidden_fraction < 0.05);
  CHECK(e1.hidden_fraction > 0.3);  // 8 micro-batches over PP 2 x VPP 2: half of the tasks are warm-up/cool-down
  CHECK(overlapped.result.makespan_s < 0.85 * plain.result.makespan_s);
  CHECK(plain.result.makespan_s - overlapped.result.makespan_s < e0.exposed_s);
}

TEST_CASE("pair_warmup_cooldown hides more EP time but not the pipeline fill: the bubble grows") {
  const auto base = simulate_step(hierarchical_scenario(nlohmann::json::object()));
  const auto paired = simulate_step(hierarchical_scenario({{"pair_warmup_cooldown", true}}));
  const auto e_base = metrics::ep_overlap(base.step.graph, base.result);
  const auto e_paired = metrics::ep_overlap(paired.step.graph, paired.result);
  const double bubble_base = metrics::pipeline_timeline(base.step.graph, base.result).bubble_fraction;
  const double bubble_paired = metrics::pipeline_timeline(paired.step.graph, paired.result).bubble_fraction;
  INFO("hidden " << e_base.hidden_fraction << " -> " << e_paired.hidden_fraction << ", bubble " << bubble_base << " -> "
                 << bubble_paired << ", step " << base.result.makespan_s << " -> " << paired.result.makespan_s << " s");
  CHECK(e_paired.hidden_fraction > e_base.hidden_fraction);
  CHECK(e_paired.hidden_fraction <= 1.0);
  // a pair's second input must be there before the pair starts: the pipeline fills more slowly
  CHECK(bubble_paired > bubble_base);
}

TEST_CASE("zero_bubble's measured bubble is below 1F1B's on the engine") {
  // tiny dense model over 4 stages in one fast node, 8 micro-batches (as the 1F1B bubble test)
  auto base = test::training_scenario(test::tiny_dense_model(), test::layout(1, 4, 1), 2048, 1, 8);
  base.topology = test::tiny_topology(1, 4, {test::mesh(400e9, 1e-6)});
  auto zb = base;
  zb.strategies.push_back(spec("zero_bubble"));
  const auto a = simulate_step(base);
  const auto b = simulate_step(zb);
  const double bubble_1f1b = metrics::pipeline_timeline(a.step.graph, a.result).bubble_fraction;
  const double bubble_zb = metrics::pipeline_timeline(b.step.graph, b.result).bubble_fraction;
  CHECK(bubble_1f1b == Approx(3.0 / 11.0).epsilon(0.03));
  CHECK(bubble_zb < 0.7 * bubble_1f1b);
  CHECK(b.result.makespan_s < a.result.makespan_s);
  // same peak in-flight count on stage 0, the most loaded stage under 1F1B
  const auto m = metrics::training_metrics(zb, b.step.graph, b.result);
  CHECK(m["schedule"] == "zero_bubble");
  CHECK(m["memory_per_stage"][3]["in_flight_micro_batches"].get<int>() == 4);
}

// CoC / MC2 on the engine (each simulation in a forked child): on a TP2 + SP dense layout whose TP collectives are
// about as long as their matmuls, the chunks pipeline as the strategy says (matmul chunk k waits for AllGather
// chunk k only, a ReduceScatter chunk runs under the next matmul chunk, the op after a group waits for all of
// it), the step gets shorter by no more than the TP time it exposed, and tp_comm_hidden_fraction rises.
#include <catch2/catch.hpp>
#include <map>

#include "step_sim.hpp"
#include "../model/training_fixtures.hpp"
#include "metrics/ep_overlap.hpp"
#include "metrics/training_metrics.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;

namespace {

test::SimulatedStep simulate_step(const config::ScenarioConfig& s) { return test::simulate_training_step(s); }

// Tiny dense model, TP 2 with SP on one node of 2 ranks, 2 micro-batches of 2048 tokens. A 20 GB/s mesh makes each
// TP collective (2048 x 2048 bf16 elements: 4 MiB per rank) ~0.2 ms, about the length of the matmul beside it.
config::ScenarioConfig tp_scenario(const std::vector<config::StrategySpec>& strategies) {
  auto s = test::training_scenario(test::tiny_dense_model(4), test::layout(2, 1, 1, 1, 1, 1, false, true), 2048, 1, 2);
  s.topology = test::tiny_topology(1, 2, {test::mesh(20e9, 2e-6)});
  s.strategies = strategies;
  return s;
}

config::StrategySpec coc(nlohmann::json params = nlohmann::json::object()) {
  return {"coc", std::move(params), "/strategies/0"};
}

}  // namespace

TEST_CASE("coc: matmul chunks wait only for their AllGather chunk, ReduceScatter chunks run under the next matmul") {
  const auto run = simulate_step(tp_scenario({coc({{"chunks", 2}})}));
  const auto ag0 = run.times("L0.attn_ag#c0"), ag1 = run.times("L0.attn_ag#c1");
  const auto mm0 = run.times("L0.attn_in#c0"), mm1 = run.times("L0.attn_in#c1");
  const double eps = 1e-9;
  CHECK(ag1.first >= ag0.second - eps);                    // the chunks' AllGathers run one after the other
  CHECK(mm0.first == Approx(ag0.second).margin(1e-7));     // chunk 0 starts as soon as its rows are there
  CHECK(mm0.first < ag1.second);                           // ... while chunk 1's rows are still on the way
  CHECK(mm1.first == Approx(std::max(ag1.second, mm0.second)).margin(1e-7));
  const auto o0 = run.times("L0.o_proj#c0"), o1 = run.times("L0.o_proj#c1");
  const auto rs0 = run.times("L0.attn_rs#c0"), rs1 = run.times("L0.attn_rs#c1");
  CHECK(o1.first == Approx(o0.second).margin(1e-7));       // no wait for ReduceScatter chunk 0 ...
  CHECK(rs0.first >= o0.second - eps);                     // ... which starts when its matmul chunk ends
  CHECK(rs0.first < o1.second);                            // and runs under matmul chunk 1
  CHECK(rs1.first >= o1.second - eps);
  CHECK(run.times("L0.ffn_norm").first >= rs1.second - eps);  // the next op waits for the whole group
  // the dense FFN's FC2 -> ReduceScatter
  const auto f0 = run.times("L0.ffn_fc2#c0"), frs0 = run.times("L0.ffn_rs#c0"), f1 = run.times("L0.ffn_fc2#c1");
  CHECK(frs0.first >= f0.second - eps);
  CHECK(frs0.first < f1.second);
}

TEST_CASE("coc shortens the step by no more than the TP time it exposed and hides TP time") {
  const auto plain = simulate_step(tp_scenario({}));
  const auto chunked = simulate_step(tp_scenario({coc()}));
  const auto t0 = metrics::ep_overlap(plain.step.graph, plain.result, {}, "tp_comm");
  const auto t1 = metrics::ep_overlap(chunked.step.graph, chunked.result, {}, "tp_comm");
  REQUIRE(t0.ranks == 2);
  REQUIRE(t1.ranks == 2);
  // without coc only the column-parallel backward's collectives run beside their matmuls
  CHECK(t0.hidden_fraction < 0.5);
  CHECK(t1.hidden_fraction > t0.hidden_fraction + 0.15);
  CHECK(t1.exposed_s < t0.exposed_s);
  CHECK(chunked.result.makespan_s < 0.95 * plain.result.makespan_s);
  CHECK(plain.result.makespan_s - chunked.result.makespan_s < t0.exposed_s);
  const auto m = metrics::training_metrics(tp_scenario({coc()}), chunked.step.graph, chunked.result);
  CHECK(m["tp_comm_overlap"] == "coc");
  CHECK(m["tp_comm_hidden_fraction"].get<double>() == Approx(t1.hidden_fraction));
  // the same model FLOPs run either way
  double f0 = 0.0, f1 = 0.0;
  for (const auto& op : plain.step.graph.ops) f0 += op.kind == model::OpKind::Compute ? op.compute.flops : 0.0;
  for (const auto& op : chunked.step.graph.ops) f1 += op.kind == model::OpKind::Compute ? op.compute.flops : 0.0;
  CHECK(f1 == Approx(f0).epsilon(1e-12));
}

TEST_CASE("column-parallel backward (no coc): input AllGather beside dX, dX ReduceScatter beside dW") {
  const auto run = simulate_step(tp_scenario({}));
  const double eps = 1e-9;
  const auto core = run.times("L0.attn_core_b"), gather = run.times("L0.attn_in_input_ag");
  const auto dx = run.times("L0.attn_in_b"), rs = run.times("L0.attn_ag_b"), dw = run.times("L0.attn_in_w");
  CHECK(gather.first == Approx(core.second).margin(1e-7));  // issued with dX, off the compute chain
  CHECK(dx.first == Approx(core.second).margin(1e-7));
  CHECK(gather.second > dx.first);                          // ... and runs while dX computes
  CHECK(rs.first >= dx.second - eps);
  CHECK(dw.first == Approx(std::max(dx.second, gather.second)).margin(1e-7));
  CHECK(rs.first < dw.second);                              // the ReduceScatter runs under dW
  CHECK(run.times("L0.attn_norm_b").first >= rs.second - eps);  // the next op waits for it
}

// matmul_retiling on the engine (simulation in a forked child): with the strategy applied, a matmul takes its
// hand-computed roofline time at the raised efficiencies, attention keeps its time, and the step gets shorter by
// less than the 10 % a step of GEMMs alone would gain.
#include <algorithm>
#include <catch2/catch.hpp>

#include "step_sim.hpp"
#include "../model/training_fixtures.hpp"
#include "strategy/kernel_matmul_retiling.hpp"

using namespace moesim;

namespace {

// Tiny dense model on one rank of the test device (matmul 0.8 / 0.9), 2 micro-batches of 2K tokens.
config::ScenarioConfig one_rank(bool retiled) {
  auto s = test::training_scenario(test::tiny_dense_model(2), test::layout(1, 1, 1), 2048, 1, 2);
  s.topology = test::tiny_topology(1, 1, {test::mesh(50e9, 1e-6)});
  if (retiled) s.strategies.push_back({"matmul_retiling", nlohmann::json::object(), "/strategies/0"});
  strategy::apply_matmul_retiling(s);
  return s;
}

}  // namespace

TEST_CASE("matmul_retiling on the engine: a matmul takes its roofline time at the raised efficiency") {
  const auto plain = one_rank(false);
  const auto tuned = one_rank(true);
  const auto a = test::simulate_training_step(plain);
  const auto b = test::simulate_training_step(tuned);
  const model::Op* matmul = nullptr;
  for (const auto& op : b.step.graph.ops)
    if (op.name == "L0.attn_in" && op.rank == 0) matmul = &op;
  REQUIRE(matmul != nullptr);
  REQUIRE(matmul->compute.op_class == config::OpClass::Matmul);
  const double hand = std::max(matmul->compute.flops / (100e12 * 0.8 * 1.10),
                               matmul->compute.bytes / (1e12 * 0.9 * 1.05)) + 2e-6;
  const auto [start, end] = b.times("L0.attn_in");
  CHECK(end - start == Approx(hand).epsilon(1e-9));
  const auto [s0, e0] = a.times("L0.attn_in");
  CHECK(e0 - s0 > end - start);
  // attention is not a GEMM class: same time with and without
  const auto [as, ae] = a.times("L0.attn_core");
  const auto [bs, be] = b.times("L0.attn_core");
  CHECK(be - bs == Approx(ae - as).epsilon(1e-12));
  // the step is shorter, by less than the 10 % a pure-GEMM step would gain
  CHECK(b.result.makespan_s < a.result.makespan_s);
  CHECK(b.result.makespan_s > a.result.makespan_s / 1.10);
}

#include <catch2/catch.hpp>

#include "engine/cost_model.hpp"
#include "test_fixtures.hpp"

using namespace moesim;
using config::OpClass;

TEST_CASE("sim: a single compute-bound matmul takes its roofline time", "[engine][sim]") {
  const auto topo = test::tiny_topology(1, 1, {test::mesh(50e9, 1e-6)});
  model::OpGraph g;
  g.num_ranks = 1;
  g.add(test::compute_op(0, 0, 8e12, 1e9));
  const auto r = engine::simulate(topo, g);
  CHECK(r.makespan_s == Approx(8e12 / (100e12 * 0.8) + 2e-6).epsilon(1e-9));
  CHECK(r.ops[0].start_s == 0.0);
  CHECK(r.ops[0].end_s == Approx(r.makespan_s).epsilon(1e-12));
}

TEST_CASE("sim: a single memory-bound grouped matmul takes its roofline time", "[engine][sim]") {
  const auto topo = test::tiny_topology(1, 1, {test::mesh(50e9, 1e-6)});
  model::OpGraph g;
  g.num_ranks = 1;
  g.add(test::compute_op(0, 0, 1e9, 7e9, OpClass::GroupedMatmul));
  const auto r = engine::simulate(topo, g);
  CHECK(r.makespan_s == Approx(7e9 / (1e12 * 0.7) + 2e-6).epsilon(1e-9));
}

TEST_CASE("sim: ops of a stream run in order, a cross-stream dep waits, a delay sleeps", "[engine][sim]") {
  const auto topo = test::tiny_topology(1, 2, {test::mesh(50e9, 1e-6)});
  model::OpGraph g;
  g.num_ranks = 2;
  const auto a = g.add(test::compute_op(0, 0, 8e12, 0));  // 0.1 s + 2 us
  model::Op delay;
  delay.name = "host";
  delay.kind = model::OpKind::Delay;
  delay.rank = 1;
  delay.delay_s = 0.05;
  delay.deps = {a};
  const auto d = g.add(delay);
  auto b = test::compute_op(1, 0, 4e12, 0);  // 0.05 s + 2 us, after the delay
  b.deps = {d};
  g.add(b);
  const auto r = engine::simulate(topo, g);
  const double ta = 0.1 + 2e-6;
  CHECK(r.ops[1].start_s == Approx(ta).epsilon(1e-12));
  CHECK(r.ops[2].start_s == Approx(ta + 0.05).epsilon(1e-12));
  CHECK(r.makespan_s == Approx(ta + 0.05 + 0.05 + 2e-6).epsilon(1e-12));
}

TEST_CASE("sim: two streams computing on one rank share it", "[engine][sim]") {
  const auto topo = test::tiny_topology(1, 1, {test::mesh(50e9, 1e-6)});
  model::OpGraph g;
  g.num_ranks = 1;
  g.add(test::compute_op(0, 0, 8e12, 0));
  g.add(test::compute_op(0, 1, 8e12, 0));
  const auto r = engine::simulate(topo, g);
  CHECK(r.makespan_s == Approx(2 * (0.1 + 2e-6)).epsilon(1e-9));
}

#include <catch2/catch.hpp>

#include "engine/cost_model.hpp"
#include "test_fixtures.hpp"

using namespace moesim;
using config::Dtype;
using config::OpClass;

namespace {
// Hand formula with the fixture's numbers: peak 100e12 (bf16) / 200e12 (int8), HBM 1e12, launch 2e-6.
double expected(double flops, double peak, double eff_c, double bytes, double eff_m) {
  return std::max(flops / (peak * eff_c), bytes / (1e12 * eff_m)) + 2e-6;
}
}  // namespace

TEST_CASE("cost model: compute-bound matmul follows the roofline formula", "[engine][cost]") {
  const auto device = test::test_device();
  const model::ComputeCost cost{OpClass::Matmul, Dtype::BF16, 8e12, 1e9};  // 0.1 s compute vs 1.1 ms memory
  const double t = engine::op_time_s(device, cost);
  CHECK(t == Approx(expected(8e12, 100e12, 0.8, 1e9, 0.9)).epsilon(1e-12));
  CHECK(t == Approx(0.1 + 2e-6).epsilon(1e-12));
  CHECK_FALSE(engine::roofline_terms(device, cost).memory_bound());
}

TEST_CASE("cost model: memory-bound matmul follows the roofline formula", "[engine][cost]") {
  const auto device = test::test_device();
  const model::ComputeCost cost{OpClass::Matmul, Dtype::BF16, 1e9, 9e9};  // 10 ms memory vs 12.5 us compute
  const double t = engine::op_time_s(device, cost);
  CHECK(t == Approx(expected(1e9, 100e12, 0.8, 9e9, 0.9)).epsilon(1e-12));
  CHECK(t == Approx(0.01 + 2e-6).epsilon(1e-12));
  CHECK(engine::roofline_terms(device, cost).memory_bound());
}

TEST_CASE("cost model: grouped matmul uses its own efficiencies, compute- and memory-bound", "[engine][cost]") {
  const auto device = test::test_device();
  const model::ComputeCost compute_bound{OpClass::GroupedMatmul, Dtype::BF16, 6e12, 1e9};
  CHECK(engine::op_time_s(device, compute_bound) == Approx(6e12 / (100e12 * 0.6) + 2e-6).epsilon(1e-12));
  const model::ComputeCost memory_bound{OpClass::GroupedMatmul, Dtype::BF16, 1e9, 7e9};
  CHECK(engine::op_time_s(device, memory_bound) == Approx(7e9 / (1e12 * 0.7) + 2e-6).epsilon(1e-12));
}

TEST_CASE("cost model: int8 uses the int8 peak, a missing dtype throws", "[engine][cost]") {
  auto device = test::test_device();
  const model::ComputeCost int8{OpClass::Matmul, Dtype::INT8, 8e12, 0.0};
  CHECK(engine::op_time_s(device, int8) == Approx(8e12 / (200e12 * 0.8) + 2e-6).epsilon(1e-12));
  device.peak_flops.erase(Dtype::INT8);
  CHECK_THROWS_AS(engine::op_time_s(device, int8), std::invalid_argument);
  CHECK(engine::host_speed_flops(device) == 100e12);
}

TEST_CASE("cost model: a later iteration of a launched kernel pays no launch overhead", "[engine][cost]") {
  const auto device = test::test_device();
  model::ComputeCost cost{OpClass::Matmul, Dtype::BF16, 1e9, 9e9};
  cost.launched = false;
  CHECK(engine::op_time_s(device, cost) == Approx(0.01).epsilon(1e-12));  // the 2 us launch is not added
}

// Training memory: ZeRO-1 optimizer states scale 1/dp, activations scale with in-flight micro-batches, OOM verdict.
#include <catch2/catch.hpp>

#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "training_fixtures.hpp"

using namespace moesim;

namespace {

model::StageMemory memory(const config::ScenarioConfig& s, int stage, std::vector<int> in_flight) {
  return model::stage_memory(s, model::assign_layers(*s.model, s.parallel), stage, in_flight);
}

}  // namespace

TEST_CASE("ZeRO-1 optimizer states shrink as 1/dp, and weights and gradients do not") {
  const auto model = test::tiny_dense_model();
  const auto a = memory(test::training_scenario(model, test::layout(2, 2, 4), 1024, 1, 16), 0, {2});
  const auto b = memory(test::training_scenario(model, test::layout(2, 2, 8), 1024, 1, 32), 0, {2});
  REQUIRE(a.breakdown.optimizer_bytes > 0.0);
  CHECK(a.breakdown.optimizer_bytes / b.breakdown.optimizer_bytes == Approx(2.0));
  CHECK(a.breakdown.weights_bytes == Approx(b.breakdown.weights_bytes));
  CHECK(a.breakdown.gradients_bytes == Approx(2.0 * a.breakdown.weights_bytes));  // fp32 grads of bf16 weights
}

TEST_CASE("expert optimizer states shard over the expert-data-parallel group") {
  const auto model = test::tiny_moe_model();
  // 6 layers + 1 MTP + 1 padding; 2 stages; ep 4 over tp 1 x dp 8 -> expert-DP 2, dense DP 8
  const auto s = test::training_scenario(model, test::layout(1, 2, 8, 1, 1, 4, false, false, 1), 1024, 1, 16);
  const auto stages = model::assign_layers(model, s.parallel);
  const auto params = model::virtual_stage_params(model, s.parallel, stages[1]);
  const auto m = memory(s, 1, {1});
  CHECK(m.breakdown.optimizer_bytes == Approx(12.0 * (params.dense / 8 + params.expert / 2)));
}

TEST_CASE("activations scale with the in-flight micro-batches") {
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 1), 2048, 1, 4);
  const auto one = memory(s, 0, {1});
  const auto three = memory(s, 0, {3});
  REQUIRE(one.breakdown.activations_bytes > 0.0);
  CHECK(three.breakdown.activations_bytes == Approx(3.0 * one.breakdown.activations_bytes));
  CHECK(three.in_flight_micro_batches == 3);
}

TEST_CASE("OOM verdict when the peak exceeds device memory, with the breakdown kept") {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 1), 2048, 1, 4);
  CHECK_FALSE(memory(s, 0, {2}).oom);
  s.topology.device.memory_bytes.value = 0.5 * 1024 * 1024 * 1024;
  const auto m = memory(s, 0, {2});
  CHECK(m.oom);
  CHECK(m.breakdown.total() > m.capacity_bytes);
  CHECK(m.breakdown.weights_bytes > 0.0);
}

TEST_CASE("a skewed expert load raises the expert-side activations of the stage's most loaded EP rank") {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 4);
  const auto stages = model::assign_layers(*s.model, s.parallel);
  const auto uniform = model::stage_memory(s, stages, 0, {2});
  s.training->expert_load.distribution = config::ExpertLoadDistribution::Zipf;
  s.training->expert_load.exponent = 1.0;
  const auto load = model::expert_load(s);
  const auto skewed = model::stage_memory(s, stages, 0, {2}, {}, {}, load);
  REQUIRE(skewed.expert_ep_index >= 0);
  // by hand, for EP index j: each MoE slot's expert-side modules x (its layer's factor for j - 1) x 2 in flight
  const auto extra_of = [&](int j) {
    double extra = 0.0;
    for (const auto& slot : stages[0].slots) {
      if (slot.kind == model::SlotKind::Padding) continue;
      const int layer = slot.kind == model::SlotKind::Mtp ? s.model->num_layers - 1 : slot.index;
      const auto bytes = model::slot_activation_bytes(*s.model, model::training_shape(s), slot);
      double side = 0.0;
      for (const char* module : {"permute", "expert_fc1", "activation"}) {
        if (bytes.count(module)) side += bytes.at(module);
      }
      extra += (load.factor(layer, j) - 1.0) * side * 2;
    }
    return extra;
  };
  const double extra = extra_of(skewed.expert_ep_index);
  CHECK(extra > 0.0);
  CHECK(skewed.breakdown.activations_bytes - uniform.breakdown.activations_bytes == Approx(extra));
  CHECK(skewed.breakdown.activations_by_module.at("unpermute") ==
        Approx(uniform.breakdown.activations_by_module.at("unpermute")));  // on the tokens' owner: unchanged
  for (int j = 0; j < 4; ++j) CHECK(extra_of(j) <= extra * (1 + 1e-12));  // the reported rank is the worst
}

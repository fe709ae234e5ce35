// KV-cache capacity from device memory, weights and workspace, in blocks.
#include <catch2/catch.hpp>
#include <cmath>

#include "config/scenario_config.hpp"
#include "model/model_stats.hpp"
#include "serving/kv_capacity.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig serving_scenario() {
  return config::load_scenario(std::string(MOESIM_SOURCE_DIR) + "/scenarios/pro_moe_800i_a2_serving_poisson.json");
}

constexpr double kGiB = 1073741824.0;

}  // namespace

TEST_CASE("Pro MoE on 4 x 910B2: fp16 GQA KV is 2 x 8 heads x 128 x 48 layers x 2 B / tp 4 per token per rank") {
  auto s = serving_scenario();
  s.serving->kv_cache.workspace_bytes = config::SourcedValue{2.0 * kGiB, "test", false};
  const auto kv = serving::kv_capacity(s);
  CHECK(kv.kv_bytes_per_token == 2.0 * 8 * 128 * 48 * 2 / 4);
  CHECK(kv.device_bytes == 64.0 * kGiB);
  // INT8 weights, everything but norms and router split over the 4 ranks: about a quarter of the 72B parameters.
  const double params = model::param_breakdown(*s.model).total;
  CHECK(kv.weight_bytes == Approx(params / 4).epsilon(0.002));
  CHECK(kv.workspace_bytes == 2.0 * kGiB);
  const double expected = std::floor((64.0 * kGiB - kv.weight_bytes - 2.0 * kGiB) / (49152.0 * 128));
  CHECK(kv.blocks == static_cast<long long>(expected));
  CHECK(kv.tokens() == kv.blocks * 128);
  CHECK(kv.note().find("2.00 GiB workspace") != std::string::npos);
}

TEST_CASE("the workspace estimate grows with the step token budget") {
  auto s = serving_scenario();
  const double small = serving::kv_capacity(s).workspace_bytes;
  s.serving->scheduler.max_tokens_per_step *= 2;
  const double large = serving::kv_capacity(s).workspace_bytes;
  // 8 live activation buffers of tokens x hidden in fp16 (W8A8 keeps activations fp16 outside GEMMs).
  CHECK(large - small == Approx(8.0 * 8192 * 5120 * 2));
  CHECK(small > 1.0 * kGiB);
}

TEST_CASE("attention DP: each attention group holds its own KV pool") {
  auto s = config::load_scenario(std::string(MOESIM_SOURCE_DIR) +
                                 "/scenarios/calibration/pro_moe_300i_duo_decode_bs80.json");
  s.serving = config::ServingConfig{};
  s.serving->kv_cache.workspace_bytes = config::SourcedValue{1.0 * kGiB, "test", false};
  const auto kv = serving::kv_capacity(s);
  CHECK(kv.attention_groups == 2);
  CHECK(kv.kv_bytes_per_token == 2.0 * 8 * 128 * 48 * 2 / 4);
  CHECK(kv.blocks % 2 == 0);
  const double per_group = std::floor((kv.device_bytes - kv.weight_bytes - kv.workspace_bytes) / (49152.0 * 128));
  CHECK(kv.blocks == 2 * static_cast<long long>(per_group));
}

TEST_CASE("weights and workspace that leave no block are a clear error") {
  auto s = serving_scenario();
  s.serving->kv_cache.workspace_bytes = config::SourcedValue{60.0 * kGiB, "test", false};
  CHECK_THROWS_WITH(serving::kv_capacity(s),
                    Catch::Contains("no room for the KV cache") && Catch::Contains("60.00 GiB workspace"));
}

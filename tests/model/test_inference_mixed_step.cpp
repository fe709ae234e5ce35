// Mixed (chunked-prefill) steps: decode sequences plus prefill chunks in one pass. The pure cases reproduce the
// static decode and prefill steps op for op; the chunk's attention kernel has the hand-computed causal FLOPs and
// reads the cached KV of its earlier chunks.
#include <catch2/catch.hpp>

#include "inference_fixtures.hpp"
#include "model/inference_step_graph.hpp"
#include "model/model_stats.hpp"

using namespace moesim;

namespace {

// Every compute op's (name, flops, bytes) and every collective's (kind, elements), in order.
void require_same_ops(const model::OpGraph& a, const model::OpGraph& b) {
  REQUIRE(a.ops.size() == b.ops.size());
  for (std::size_t i = 0; i < a.ops.size(); ++i) {
    INFO(a.ops[i].name << " vs " << b.ops[i].name);
    CHECK(a.ops[i].compute.flops == Approx(b.ops[i].compute.flops).epsilon(1e-12));
    CHECK(a.ops[i].compute.bytes == Approx(b.ops[i].compute.bytes).epsilon(1e-12));
  }
  REQUIRE(a.collectives.size() == b.collectives.size());
  for (std::size_t i = 0; i < a.collectives.size(); ++i) {
    CHECK(a.collectives[i].elements == Approx(b.collectives[i].elements).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("a mixed step without chunks is the static decode step") {
  const auto s = test::tiny_inference_scenario(2, 1, 6);
  model::MixedStepBatch batch;
  batch.decode_seqs = 6;
  batch.decode_kv_len = 128;
  require_same_ops(model::build_mixed_inference_step_graph(s, {}, batch), model::build_inference_step_graph(s));
}

TEST_CASE("a mixed step of one whole prompt is the static prefill step") {
  const auto s = test::tiny_inference_scenario(2, 1, 1, false);  // one prompt of 128 tokens
  model::MixedStepBatch batch;
  batch.chunks.push_back({128, 0});
  require_same_ops(model::build_mixed_inference_step_graph(s, {}, batch), model::build_inference_step_graph(s));
}

TEST_CASE("a mixed step runs every token-proportional op over decode plus chunk tokens") {
  const auto s = test::tiny_inference_scenario(2, 1, 1);
  model::MixedStepBatch batch;
  batch.decode_seqs = 4;
  batch.decode_kv_len = 100;
  batch.chunks.push_back({32, 64});  // 32 prompt tokens after 64 cached ones
  const auto g = model::build_mixed_inference_step_graph(s, {}, batch);
  const auto& model = *s.model;
  // Decode attention: 4 sequences x 100 KV tokens x (2 x 4 KV heads x 32) / tp 2 x 2 bytes + outputs.
  const auto decode = test::ops_named(g, "attn_core", 0);
  REQUIRE(decode.size() == 2);  // one per layer
  const double out = 4.0 * 2 * 8 / 2 * 32 * 2;
  CHECK(decode[0]->compute.bytes == Approx(4.0 * 100 * 256 / 2 * 2 + out));
  CHECK(decode[0]->compute.flops == Approx(4.0 * model::attention_core_flops(model, 100) / 2));
  // Chunk attention: 32 x (64 + 16) query-key pairs; its own KV and outputs (fp16), the 64 cached tokens' KV.
  const auto chunk = test::ops_named(g, "attn_core_chunk", 0);
  REQUIRE(chunk.size() == 2);
  CHECK(chunk[0]->compute.flops == Approx(32.0 * 80 * model::attention_core_flops(model, 1) / 2));
  CHECK(chunk[0]->compute.bytes == Approx(32.0 * (256 / 2 + 8 / 2 * 32 * 2) * 2 + 64.0 * 256 / 2 * 2));
  // Projections over 4 + 32 tokens; logits for 4 sequences + 1 chunk.
  const auto qkv = test::ops_named(g, "qkv_proj", 0);
  const double qkv_params = (256.0 * 256 + 2 * 256.0 * 128) / 2;
  CHECK(qkv[0]->compute.flops == Approx(2.0 * 36 * qkv_params));
  CHECK(test::ops_named(g, "lm_head", 0)[0]->compute.flops == Approx(2.0 * 5 * 256 * 512 / 2));
}

TEST_CASE("mixed steps refuse MTP plans and empty batches") {
  const auto s = test::tiny_inference_scenario(2, 1, 1);
  model::InferenceStepPlan mtp;
  mtp.mtp_draft_tokens = 1;
  model::MixedStepBatch batch;
  batch.decode_seqs = 1;
  batch.decode_kv_len = 10;
  CHECK_THROWS_WITH(model::build_mixed_inference_step_graph(s, mtp, batch), Catch::Contains("MTP"));
  CHECK_THROWS_WITH(model::build_mixed_inference_step_graph(s, {}, model::MixedStepBatch{}),
                    Catch::Contains("needs decode sequences or prefill chunk tokens"));
}

// Parameter, FLOP and KV arithmetic: published totals of the shipped models and tiny hand-computed models.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <string>

#include "config/model_config.hpp"
#include "model/model_stats.hpp"

using namespace moesim::model;
using moesim::config::AttentionKind;
using moesim::config::FfnActivation;
using moesim::config::load_model;
using moesim::config::MoeSpec;
using moesim::config::RoutingKind;

namespace {

const std::string kModels = std::string(MOESIM_SOURCE_DIR) + "/models/";

// Relative error |x - target| / target.
double rel(double x, double target) {
  return std::abs(x - target) / target;
}

// hidden 8, 2 dense layers, MHA 2 heads x 4, GELU FFN 32, vocab 10, untied.
ModelConfig tiny_dense() {
  ModelConfig m;
  m.name = "tiny dense";
  m.hidden = 8;
  m.num_layers = 2;
  m.num_dense_layers = 2;
  m.dense_intermediate = 32;
  m.vocab = 10;
  m.tied_embeddings = false;
  m.activation = FfnActivation::GELU;
  m.attention = {AttentionKind::MHA, 2, 2, 4};
  m.max_seq_len = 16;
  return m;
}

// hidden 8, 3 layers (first dense, SwiGLU 16), MLA 2 heads (q_lora 4, kv_lora 4, nope 2, rope 2, v 2),
// 4 routed experts x 4 (top-2) + 1 shared x 4, 1 MTP module, vocab 10, untied.
ModelConfig tiny_moe_mla() {
  ModelConfig m;
  m.name = "tiny moe";
  m.hidden = 8;
  m.num_layers = 3;
  m.num_dense_layers = 1;
  m.dense_intermediate = 16;
  m.vocab = 10;
  m.activation = FfnActivation::SwiGLU;
  m.attention.kind = AttentionKind::MLA;
  m.attention.num_heads = 2;
  m.attention.q_lora_rank = 4;
  m.attention.kv_lora_rank = 4;
  m.attention.qk_nope_head_dim = 2;
  m.attention.qk_rope_head_dim = 2;
  m.attention.v_head_dim = 2;
  MoeSpec moe;
  moe.num_routed_experts = 4;
  moe.num_shared_experts = 1;
  moe.top_k = 2;
  moe.expert_intermediate = 4;
  moe.shared_expert_intermediate = 4;
  moe.routing = RoutingKind::TopK;
  m.moe = moe;
  m.mtp_layers = 1;
  m.max_seq_len = 16;
  return m;
}

}  // namespace

TEST_CASE("model stats: Pangu Pro MoE totals match [P] Table 1 (71.99B total, 16.50B active)") {
  const auto p = param_breakdown(load_model(kModels + "pangu_pro_moe_72b.json"));
  CHECK(rel(p.total, 71.99e9) < 0.005);
  CHECK(rel(p.active, 16.5e9) < 0.01);
  CHECK(p.mtp == 0.0);
  CHECK(p.head == p.embedding);  // untied
}

TEST_CASE("model stats: Pangu Ultra MoE totals match the model card (718B total, 39B active)") {
  const auto p = param_breakdown(load_model(kModels + "pangu_ultra_moe_718b.json"));
  CHECK(rel(p.total, 718e9) < 0.01);
  CHECK(rel(p.active, 39e9) < 0.04);
  // MTP is outside the published total (as DeepSeek-V3's 671B excludes its 14B MTP module): counted separately.
  CHECK(p.mtp > 12e9);
  CHECK(p.total_with_mtp == Approx(p.total + p.mtp));
}

TEST_CASE("model stats: dense baselines match their published sizes") {
  // GPT-3: 175B (Brown et al. 2020 Table 2.1); we omit position embeddings and biases (~0.03B).
  const auto gpt3 = param_breakdown(load_model(kModels + "gpt3_175b.json"));
  CHECK(rel(gpt3.total, 175e9) < 0.005);
  CHECK(gpt3.head == 0.0);  // tied
  CHECK(gpt3.active == gpt3.total);
  // Llama 2 70B: the released checkpoint holds 68.98B parameters ("70B" is the rounded name).
  const auto llama = param_breakdown(load_model(kModels + "llama2_70b.json"));
  CHECK(rel(llama.total, 68.98e9) < 0.001);
}

TEST_CASE("model stats: tiny dense MHA model, hand-computed") {
  const auto m = tiny_dense();
  // attention: q, k, v, o = 4 * 8*8 = 256; norms 2*8 = 16; GELU FFN: 8*32 + 32*8 = 512 -> 784 per layer.
  CHECK(attention_params_per_layer(m) == 256);
  CHECK(dense_ffn_params(m) == 512);
  const auto p = param_breakdown(m);
  // 2 layers * 784 = 1568; embedding 80; head 80; final norm 8 -> 1736.
  CHECK(p.attention == 512);
  CHECK(p.dense_ffn == 1024);
  CHECK(p.norms == 40);
  CHECK(p.total == 1736);
  CHECK(p.active == 1736);
  // FLOPs per token at seq_len 6: matmul 2 * (2 * (256 + 512) + 80) = 3232;
  // attention core per layer 2 * 2 heads * (4 + 4) * 3 (mean causal context) = 96, 2 layers -> 192.
  const auto f = flops_breakdown(m, 6);
  CHECK(f.attention_proj == 1024);
  CHECK(f.dense_ffn == 2048);
  CHECK(f.lm_head == 160);
  CHECK(f.matmul == 3232);
  CHECK(f.attention_core == 192);
  CHECK(f.total == 3424);
  CHECK(flops_per_token_forward(m, 6) == 3424);
  // KV: 2 layers * 2 (K and V) * 2 heads * 4 * 2 bytes = 64 bytes in bf16; weights 1736 * 4 bytes in fp32.
  CHECK(kv_bytes_per_token(m, Dtype::BF16) == 64);
  CHECK(weight_bytes(m, Dtype::FP32) == 1736 * 4);
  CHECK(weight_bytes(m, Dtype::INT8) == 1736);
}

TEST_CASE("model stats: tiny MoE + MLA + MTP model, hand-computed") {
  const auto m = tiny_moe_mla();
  // MLA: q_a 8*4 = 32, q_b 4*2*(2+2) = 32, kv_a 8*(4+2) = 48, kv_b 4*2*(2+2) = 32, o 2*2*8 = 32 -> 176;
  // inner norms q_a_norm 4 + kv_a_norm 4 = 8 -> 184.
  const auto shapes = attention_matmuls(m);
  REQUIRE(shapes.size() == 5);
  CHECK(shapes[0].name == "q_a_proj");
  CHECK(shapes[2].params() == 48);
  CHECK(attention_params_per_layer(m) == 184);
  // SwiGLU expert 3*8*4 = 96; dense FFN 3*8*16 = 384; router 8*4 = 32.
  CHECK(expert_params(m) == 96);
  CHECK(dense_ffn_params(m) == 384);
  CHECK(router_matmul(m).params() == 32);
  // Layers: dense 184 + 16 + 384 = 584; MoE 184 + 16 + 4*96 + 96 + 32 = 712 (active: 2*96 instead: 520).
  CHECK(transformer_layer_params(m, false, false) == 584);
  CHECK(transformer_layer_params(m, true, false) == 712);
  CHECK(transformer_layer_params(m, true, true) == 520);
  CHECK_FALSE(is_moe_layer(m, 0));
  CHECK(is_moe_layer(m, 1));
  CHECK(num_moe_layers(m) == 2);
  const auto p = param_breakdown(m);
  // total 584 + 2*712 + 80 + 80 + 8 = 2176; active 584 + 2*520 + 168 = 1792.
  CHECK(p.total == 2176);
  CHECK(p.active == 1792);
  // MTP: 2 norms 16 + projection 16*8 = 128 + an MoE layer 712 = 856 (active 664).
  CHECK(p.mtp == 856);
  CHECK(p.total_with_mtp == 3032);
  CHECK(p.active_with_mtp == 2456);
  // FLOPs at seq_len 8: attention 3 * 2*176 = 1056; dense 2*384 = 768; routed 2 * 2*192 = 768;
  // shared 2 * 2*96 = 384; router 2 * 2*32 = 128; head 2*80 = 160 -> 3264 without MTP.
  // MTP: projection 2*128 + attention 352 + FFN (384 + 192 + 64) + head 160 = 1408.
  // Attention core per layer 2 * 2 * (4 + 2) * 4 = 96, for 3 layers (+1 MTP).
  const auto without = flops_breakdown(m, 8, false);
  CHECK(without.matmul == 3264);
  CHECK(without.attention_core == 288);
  const auto with = flops_breakdown(m, 8, true);
  CHECK(with.mtp_matmul == 1408);
  CHECK(with.matmul == 4672);
  CHECK(with.attention_core == 384);
  CHECK(with.total == 5056);
  // KV: latent 4 + rope key 2 = 6 elements per layer; 3 layers * 6 * 2 bytes = 36 (48 with the MTP layer).
  CHECK(kv_bytes_per_token(m, Dtype::BF16) == 36);
  CHECK(kv_bytes_per_token(m, Dtype::BF16, true) == 48);
}

TEST_CASE("model stats: KV cache per token of the Pangu models") {
  // Pro MoE (GQA): 48 layers * 2 (K, V) * 8 KV heads * 128 * 2 bytes = 196608.
  CHECK(kv_bytes_per_token(load_model(kModels + "pangu_pro_moe_72b.json"), Dtype::BF16) == 48.0 * 2 * 8 * 128 * 2);
  // Ultra MoE (MLA): 61 layers * (kv_lora 512 + rope 64) * 2 bytes = 70272.
  const auto ultra = load_model(kModels + "pangu_ultra_moe_718b.json");
  CHECK(kv_bytes_per_token(ultra, Dtype::BF16) == 61.0 * 576 * 2);
  CHECK(kv_bytes_per_token(ultra, Dtype::INT8, true) == 62.0 * 576);
}

TEST_CASE("model stats: matmul FLOPs are twice the active matmul weights for every shipped model") {
  // Independent identity: each active weight is used once per token (2 FLOPs); embedding lookup and norms
  // are not matmuls; a tied head is used for the logits although it is not counted twice as a parameter.
  for (const auto& entry : std::filesystem::directory_iterator(kModels)) {
    INFO(entry.path().string());
    const auto m = load_model(entry.path().string());
    const auto p = param_breakdown(m);
    const double inner_norms = m.num_layers * attention_inner_norm_params(m);
    const double tied_head = m.tied_embeddings ? p.embedding : 0.0;
    const auto f = flops_breakdown(m, 4096, false);
    CHECK(f.matmul == Approx(2.0 * (p.active - p.embedding - p.norms - inner_norms + tied_head)).epsilon(1e-12));
    CHECK(f.attention_core == Approx(m.num_layers * attention_core_flops(m, 2048)));
  }
}

TEST_CASE("model stats: describe_json and describe_text agree with the functions") {
  const auto m = load_model(kModels + "pangu_ultra_moe_718b.json");
  const auto j = describe_json(m, 8192);
  const auto p = param_breakdown(m);
  CHECK(j.at("name") == "Pangu Ultra MoE 718B");
  CHECK(j.at("seq_len") == 8192);
  CHECK(j.at("params_total").get<double>() == p.total);
  CHECK(j.at("params_active").get<double>() == p.active);
  CHECK(j.at("flops_per_token_forward").get<double>() == flops_per_token_forward(m, 8192));
  CHECK(j.at("kv_bytes_per_token").get<double>() == 61.0 * 576 * 2);
  CHECK(j.at("weight_bytes").at("bf16").get<double>() == 2.0 * p.total);
  CHECK(j.at("weight_bytes").size() == 4);
  double component_sum = 0.0;
  for (const auto& item : j.at("params_by_component").items()) {
    if (item.key() != "mtp") component_sum += item.value().get<double>();
  }
  CHECK(component_sum == Approx(p.total));
  const auto text = describe_text(m, 8192);
  CHECK_THAT(text,
             Catch::Contains("Pangu Ultra MoE 718B") && Catch::Contains("719.093 B") && Catch::Contains("68.62 KiB"));
  CHECK_THROWS_AS(describe_json(m, 0), std::invalid_argument);
}

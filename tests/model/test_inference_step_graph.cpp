// Static inference step graphs: FLOPs agree with the model statistics, weight reads per rank, layout limits.
#include <catch2/catch.hpp>

#include "config/scenario_config.hpp"
#include "model/inference_step_graph.hpp"
#include "model/model_stats.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig scenario_for(const std::string& model_file, int tp, config::InferencePhase phase, int batch,
                                    int input_len) {
  config::ScenarioConfig s;
  s.file = "test";
  s.type = config::ScenarioType::Inference;
  s.model = config::load_model(std::string(MOESIM_SOURCE_DIR) + "/models/" + model_file);
  s.ranks = tp;
  s.parallel.tp = tp;
  s.parallel.ep = s.model->moe ? tp : 1;
  config::InferenceWorkload w;
  w.phase = phase;
  w.batch_size = batch;
  w.input_len = input_len;
  w.weight_dtype = config::Dtype::BF16;
  w.activation_dtype = config::Dtype::BF16;
  w.kv_dtype = config::Dtype::BF16;
  s.inference = w;
  return s;
}

double sum_flops(const model::OpGraph& g, config::OpClass op_class, const std::string& skip = "") {
  double total = 0;
  for (const auto& op : g.ops) {
    if (op.kind == model::OpKind::Compute && op.compute.op_class == op_class &&
        (skip.empty() || op.name.find(skip) == std::string::npos)) {
      total += op.compute.flops;
    }
  }
  return total;
}

}  // namespace

TEST_CASE("prefill matmul FLOPs over all ranks equal the model statistics") {
  const auto s = scenario_for("llama2_70b.json", 2, config::InferencePhase::Prefill, 2, 512);
  const auto g = model::build_inference_step_graph(s);
  model::validate(g);
  const auto f = model::flops_breakdown(*s.model, 512, false);
  const double tokens = 2.0 * 512;
  CHECK(sum_flops(g, config::OpClass::Matmul, "lm_head") == Approx(tokens * (f.attention_proj + f.dense_ffn)));
  // LM head runs for the last position of each sequence only.
  CHECK(sum_flops(g, config::OpClass::Matmul) - sum_flops(g, config::OpClass::Matmul, "lm_head") ==
        Approx(2.0 * f.lm_head));
  // Attention core at mean causal context seq/2, as in describe.
  CHECK(sum_flops(g, config::OpClass::Attention) == Approx(tokens * f.attention_core));
}

TEST_CASE("MoE prefill routed-expert FLOPs equal top_k experts per token") {
  const auto s = scenario_for("pangu_pro_moe_72b.json", 4, config::InferencePhase::Prefill, 1, 256);
  const auto g = model::build_inference_step_graph(s);
  const auto f = model::flops_breakdown(*s.model, 256, false);
  CHECK(sum_flops(g, config::OpClass::GroupedMatmul) == Approx(256.0 * f.routed_experts));
}

TEST_CASE("decode at batch 1 reads two routed experts per rank per layer on Pro MoE with ep 4") {
  // MoGE: 8 groups of 8 experts, top-1 per group; ep 4 puts 2 groups (16 experts) on each rank, and
  // one token selects one expert per group, i.e. exactly 2 experts on each rank.
  const double touched = model::expected_touched_experts(16, 1, 8.0 / 64);
  CHECK(touched == Approx(2.0));
  const auto s = scenario_for("pangu_pro_moe_72b.json", 4, config::InferencePhase::Decode, 1, 2048);
  const auto g = model::build_inference_step_graph(s);
  double bytes = 0;
  int found = 0;
  for (const auto& op : g.ops) {
    if ((op.name == "L0.routed_gate_up" || op.name == "L0.routed_down") && op.rank == 0) {
      bytes += op.compute.bytes;
      ++found;
    }
  }
  REQUIRE(found == 2);
  // bf16 weights of 2 experts, plus 2 rows (8 / ep 4) through gate_up (5120 -> 2 x 1344) and down (1344 -> 5120).
  CHECK(bytes == Approx(2.0 * model::expert_params(*s.model) * 2 + 2.0 * (5120 + 2688) * 2 + 2.0 * (1344 + 5120) * 2));
}

TEST_CASE("decode attention reads the KV cache of every sequence") {
  const auto s = scenario_for("pangu_pro_moe_72b.json", 4, config::InferencePhase::Decode, 8, 1024);
  const auto g = model::build_inference_step_graph(s);
  for (const auto& op : g.ops) {
    if (op.name == "L0.attn_core" && op.rank == 0) {
      // 8 KV heads over tp 4: 2 heads x 128 x (K and V) x 2 bytes per token per rank, plus the 8 queries'
      // q in and output out (10 local heads x 128, fp16).
      CHECK(op.compute.bytes == Approx(8.0 * 1024 * 2 * 2 * 128 * 2 + 8.0 * 2 * 10 * 128 * 2));
    }
  }
}

TEST_CASE("every layer adds two TP AllReduces, tp 1 adds none") {
  const auto s4 = scenario_for("pangu_pro_moe_72b.json", 4, config::InferencePhase::Decode, 4, 128);
  CHECK(model::build_inference_step_graph(s4).collectives.size() == 48 * 2 + 1);
  const auto s1 = scenario_for("llama2_70b.json", 1, config::InferencePhase::Decode, 4, 128);
  CHECK(model::build_inference_step_graph(s1).collectives.empty());
}

TEST_CASE("layouts outside the static step are refused with a clear message") {
  auto s = scenario_for("pangu_pro_moe_72b.json", 4, config::InferencePhase::Decode, 4, 128);
  s.parallel.dp = 2;
  CHECK_THROWS_WITH(model::build_inference_step_graph(s), Catch::Contains("serving strategies"));
}

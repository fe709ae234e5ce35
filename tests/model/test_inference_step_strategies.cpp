// The static inference step under each plan option, on a tiny MoE model: host dispatch ops, FlashComm and H2P
// collective sequences, TopoComm tiers, DuoStream chunks, fused operator classes and MTP passes, with hand-computed
// sizes.
#include <catch2/catch.hpp>

#include "inference_fixtures.hpp"
#include "model/inference_step_builder.hpp"
#include "model/inference_step_graph.hpp"
#include "model/model_stats.hpp"

using namespace moesim;
using model::CollectiveKind;
using model::InferenceComm;
using model::InferenceStepPlan;
using test::collectives_named;
using test::find_op;

namespace {

double sum(const std::vector<const model::Op*>& ops, double model::ComputeCost::*field) {
  double total = 0;
  for (const auto* op : ops) total += op->compute.*field;
  return total;
}

void add_host_runtime(config::ScenarioConfig& s, double op_us, double collective_us, double step_ms) {
  config::HostRuntimeSpec host;
  host.op_dispatch_s = test::fixture_value(op_us * 1e-6);
  host.collective_dispatch_s = test::fixture_value(collective_us * 1e-6);
  host.step_overhead_s = test::fixture_value(step_ms * 1e-3);
  s.topology.host_runtime = host;
}

}  // namespace

TEST_CASE("host runtime: one dispatch delay per device op on a host stream, after the step overhead") {
  auto s = test::tiny_inference_scenario(2, 1, 4);
  const auto plain = model::build_inference_step_graph(s);
  for (const auto& op : plain.ops) CHECK(op.kind != model::OpKind::Delay);  // no host_runtime: no host ops
  add_host_runtime(s, 10, 5, 1);
  const auto g = model::build_inference_step_graph(s);
  model::validate(g);
  int computes = 0, collectives = 0;
  double host_s = 0;
  std::vector<model::OpId> host_ops;
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    const auto& op = g.ops[i];
    if (op.rank != 0) continue;
    if (op.kind == model::OpKind::Compute) ++computes;
    if (op.kind == model::OpKind::Collective) ++collectives;
    if (op.kind == model::OpKind::Delay) {
      CHECK(op.stream == model::detail::kHostStream);
      CHECK(op.phase == "host");
      host_s += op.delay_s;
      host_ops.push_back(static_cast<model::OpId>(i));
    }
  }
  // Per layer: 16 compute ops and 2 AllReduces; plus embedding, final norm, LM head and the logits AllGather.
  CHECK(computes == 2 * 16 + 3);
  CHECK(collectives == 2 * 2 + 1);
  CHECK(host_s == Approx(1e-3 + computes * 10e-6 + collectives * 5e-6));
  CHECK(g.ops[static_cast<std::size_t>(host_ops.front())].name == "step_overhead");
  // Every device op waits for its own dispatch (the host op just before it on the host stream).
  for (const auto& op : g.ops) {
    if (op.rank != 0 || op.kind == model::OpKind::Delay) continue;
    bool waits_for_host = false;
    for (auto dep : op.deps)
      waits_for_host = waits_for_host || g.ops[static_cast<std::size_t>(dep)].kind == model::OpKind::Delay;
    CHECK(waits_for_host);
  }
}

TEST_CASE("flashcomm: each TP AllReduce becomes a ReduceScatter, the norm runs on the shard, AllGathers may be INT8") {
  const auto s = test::tiny_inference_scenario(2, 1, 4);
  InferenceStepPlan plan;
  plan.comm = InferenceComm::FlashComm;
  auto g = model::build_inference_step_graph(s, plan);
  model::validate(g);
  auto c = collectives_named(g, "L0.");
  REQUIRE(c.size() == 4);
  const std::vector<CollectiveKind> kinds = {CollectiveKind::AllGather, CollectiveKind::ReduceScatter,
                                             CollectiveKind::AllGather, CollectiveKind::ReduceScatter};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(c[i]->kind == kinds[i]);
    CHECK(c[i]->elements == Approx(4 * 256.0));  // 4 tokens x hidden 256, 2 ranks
    CHECK(c[i]->dtype == config::Dtype::FP16);
    CHECK(c[i]->ranks == std::vector<int>{0, 1});
  }
  // Norms on 4 / tp 2 = 2 tokens instead of 4.
  const auto plain = model::build_inference_step_graph(s);
  CHECK(find_op(g, "L0.ffn_norm", 0).compute.flops == Approx(find_op(plain, "L0.ffn_norm", 0).compute.flops / 2));
  plan.int8_allgather = true;
  g = model::build_inference_step_graph(s, plan);
  c = collectives_named(g, "L0.");
  CHECK(c[0]->dtype == config::Dtype::INT8);  // the AllGathers feed INT8 GEMMs
  CHECK(c[2]->dtype == config::Dtype::INT8);
  CHECK(c[1]->dtype == config::Dtype::FP16);  // ReduceScatters sum: fp16
  CHECK(c[3]->dtype == config::Dtype::FP16);
  // FlashComm keeps attention dp 1.
  auto dp2 = test::tiny_inference_scenario(2, 2, 4);
  CHECK_THROWS_WITH(model::build_inference_step_graph(dp2, plan), Catch::Contains("/parallel/dp"));
}

TEST_CASE("topocomm tiers: a global AllGather over 2 tiers of 4 runs between peers, then inside each tier") {
  const auto s = test::tiny_inference_scenario(4, 2, 8);
  InferenceStepPlan plan;
  plan.comm = InferenceComm::H2P;
  plan.tier_ranks = 4;
  plan.tier_algorithm = model::CollectiveAlgorithm::Direct;
  const auto g = model::build_inference_step_graph(s, plan);
  model::validate(g);
  // TP groups (ranks 0-3, 4-7) sit in one tier each: one collective per group, direct.
  const auto tp = collectives_named(g, "L0.attn_allgather");
  REQUIRE(tp.size() == 2);
  CHECK(tp[0]->algorithm == model::CollectiveAlgorithm::Direct);
  CHECK(tp[1]->ranks == std::vector<int>{4, 5, 6, 7});
  // 8 sequences, 4 per group: 8 tokens x 256 gathered on every rank = 2048 elements.
  const auto inter = collectives_named(g, "L0.moe_allgather.inter");
  const auto intra = collectives_named(g, "L0.moe_allgather.intra");
  REQUIRE(inter.size() == 4);
  REQUIRE(intra.size() == 2);
  for (int l = 0; l < 4; ++l) {
    CHECK(inter[static_cast<std::size_t>(l)]->ranks == std::vector<int>{l, l + 4});
    CHECK(inter[static_cast<std::size_t>(l)]->elements == Approx(2048.0 / 4));
  }
  CHECK(intra[0]->ranks == std::vector<int>{0, 1, 2, 3});
  CHECK(intra[0]->elements == Approx(2048.0));
  // ReduceScatter: inside the tier first, then between peers.
  std::size_t first_intra = 0, first_inter = 0;
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].name == "L0.moe_reducescatter.intra" && first_intra == 0) first_intra = i;
    if (g.ops[i].name == "L0.moe_reducescatter.inter" && first_inter == 0) first_inter = i;
  }
  CHECK(first_intra > 0);
  CHECK(first_intra < first_inter);
  CHECK(collectives_named(g, "L0.moe_reducescatter.inter")[0]->elements == Approx(2048.0 / 4));
}

TEST_CASE("duo_stream: chunked expert-block collectives, each chunk's compute waits only for its AllGather") {
  const auto s = test::tiny_inference_scenario(4, 2, 8);
  InferenceStepPlan plan;
  plan.comm = InferenceComm::H2P;
  const auto whole = model::build_inference_step_graph(s, plan);
  plan.duo_stream_chunks = 2;
  const auto g = model::build_inference_step_graph(s, plan);
  model::validate(g);
  const auto gathers = collectives_named(g, "L0.moe_allgather.c");
  REQUIRE(gathers.size() == 2);
  CHECK(gathers[0]->elements == Approx(2048.0 / 2));
  CHECK(collectives_named(g, "L0.moe_reducescatter.c").size() == 2);
  // Chunk 1's router waits for chunk 1's AllGather on its rank.
  const auto& router = find_op(g, "L0.c1.router", 2);
  bool waits = false;
  for (auto dep : router.deps) waits = waits || g.ops[static_cast<std::size_t>(dep)].name == "L0.moe_allgather.c1";
  CHECK(waits);
  // The chunks together do the unchunked work: FLOPs and (weights streamed once) bytes are conserved.
  for (const char* name : {"routed_gate_up", "routed_down", "shared_gate_up"}) {
    INFO(name);
    const auto chunked = test::ops_named(g, name, 0);
    REQUIRE(chunked.size() == 2 * 2);  // 2 layers x 2 chunks
    CHECK(sum(chunked, &model::ComputeCost::flops) ==
          Approx(sum(test::ops_named(whole, name, 0), &model::ComputeCost::flops)));
    CHECK(sum(chunked, &model::ComputeCost::bytes) ==
          Approx(sum(test::ops_named(whole, name, 0), &model::ComputeCost::bytes)));
  }
  // One fused kernel per op: the first chunk's op is launched (host dispatch and device launch), the later chunks
  // are iterations of it.
  for (const char* name : {"router", "routed_gate_up", "routed_act", "routed_down", "moe_unpermute", "shared_down"}) {
    INFO(name);
    CHECK(find_op(g, std::string("L0.c0.") + name, 0).compute.launched);
    CHECK_FALSE(find_op(g, std::string("L0.c1.") + name, 0).compute.launched);
  }
  CHECK(find_op(whole, "L0.routed_gate_up", 0).compute.launched);
  plan.duo_stream_reread_weights = true;
  const auto reread = model::build_inference_step_graph(s, plan);
  CHECK(sum(test::ops_named(reread, "routed_gate_up", 0), &model::ComputeCost::bytes) >
        sum(test::ops_named(g, "routed_gate_up", 0), &model::ComputeCost::bytes));
  // Without a ReduceScatter/AllGather layout there is nothing to chunk.
  plan.comm = InferenceComm::TpAllReduce;
  CHECK_THROWS_WITH(model::build_inference_step_graph(test::tiny_inference_scenario(2, 1, 4), plan),
                    Catch::Contains("flashcomm or h2p"));
}

TEST_CASE("fused operator classes cost attention and grouped GEMMs, and a topology without them is refused") {
  auto s = test::tiny_inference_scenario(2, 1, 4);
  InferenceStepPlan plan;
  plan.attention_class = config::OpClass::FusedAttention;
  plan.grouped_matmul_class = config::OpClass::FusedGroupedMatmul;
  CHECK_THROWS_WITH(model::build_inference_step_graph(s, plan), Catch::Contains("/device/efficiency/fused_attention"));
  for (auto op_class : {config::OpClass::FusedAttention, config::OpClass::FusedGroupedMatmul}) {
    auto& e = s.topology.device.efficiency[static_cast<std::size_t>(op_class)];
    e.compute = test::fixture_value(0.5);
    e.memory = test::fixture_value(0.9);
  }
  const auto g = model::build_inference_step_graph(s, plan);
  CHECK(find_op(g, "L1.attn_core", 1).compute.op_class == config::OpClass::FusedAttention);
  CHECK(find_op(g, "L1.routed_gate_up", 1).compute.op_class == config::OpClass::FusedGroupedMatmul);
  CHECK(find_op(g, "L1.routed_down", 1).compute.op_class == config::OpClass::FusedGroupedMatmul);
  CHECK(find_op(g, "L1.shared_down", 1).compute.op_class == config::OpClass::Matmul);  // dense GEMMs unchanged
}

TEST_CASE("mtp: the verify pass runs 1 + k tokens per sequence, then k draft passes of the MTP module") {
  const auto s = test::tiny_inference_scenario(2, 1, 4);
  const auto plain = model::build_inference_step_graph(s);
  InferenceStepPlan plan;
  plan.mtp_draft_tokens = 2;
  plan.speculative_overhead_s = 1e-3;
  const auto g = model::build_inference_step_graph(s, plan);
  model::validate(g);
  const double one = find_op(plain, "L0.qkv_proj", 0).compute.flops;
  CHECK(find_op(g, "L0.qkv_proj", 0).compute.flops == Approx(3 * one));
  // Decode attention reads each sequence's KV cache once for its 3 queries.
  const double kv = 4.0 * 128 * (2 * 4 * 32) / 2 * 2;  // seqs x KV len x K,V elements / tp x fp16
  CHECK(find_op(g, "L0.attn_core", 0).compute.bytes == Approx(kv + 3 * 4.0 * 2 * 4 * 32 * 2));
  // Draft pass 0 over the 3 verified positions, pass 1 over one token per sequence.
  CHECK(find_op(g, "mtp0.layer.qkv_proj", 0).compute.flops == Approx(3 * one));
  CHECK(find_op(g, "mtp1.layer.qkv_proj", 0).compute.flops == Approx(one));
  CHECK(find_op(g, "mtp1.eh_proj", 0).compute.flops == Approx(2.0 * 4 * 2 * 256 * 256 / 2));
  CHECK(find_op(g, "mtp0.layer.routed_gate_up", 0).phase == "mtp_draft");
  CHECK(test::ops_named(g, "mtp2.layer.qkv_proj").empty());
  // Logits for every verified position: 4 x 3 rows through the LM head.
  CHECK(find_op(g, "lm_head", 0).compute.flops == Approx(3 * find_op(plain, "lm_head", 0).compute.flops));
  const auto& overhead = find_op(g, "speculative_overhead", 0);
  CHECK(overhead.kind == model::OpKind::Delay);
  CHECK(overhead.delay_s == Approx(1e-3));
  // Prefill: one MTP pass over the prompt.
  const auto prefill = model::build_inference_step_graph(test::tiny_inference_scenario(2, 1, 4, false), plan);
  CHECK_FALSE(test::ops_named(prefill, "mtp0.layer.qkv_proj").empty());
  CHECK(test::ops_named(prefill, "mtp1.layer.qkv_proj").empty());
}

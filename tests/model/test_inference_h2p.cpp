// H2P static step ([P] §4.2.1): the collective sequence of each layer (kinds, groups, sizes), padding, the norm
// on the token shard, and FLOPs conserved against the model statistics.
#include <catch2/catch.hpp>

#include "config/scenario_config.hpp"
#include "inference_fixtures.hpp"
#include "model/inference_step_graph.hpp"
#include "model/model_stats.hpp"

using namespace moesim;
using test::collectives_named;
using test::find_op;

namespace {

config::ScenarioConfig duo_scenario(int batch) {
  auto s = config::load_scenario(std::string(MOESIM_SOURCE_DIR) +
                                 "/scenarios/calibration/pro_moe_300i_duo_decode_bs80.json");
  s.inference->batch_size = batch;
  return s;
}

model::InferenceStepPlan h2p_plan() {
  model::InferenceStepPlan plan;
  plan.comm = model::InferenceComm::H2P;
  plan.shared_expert_tp = 8;
  return plan;
}

}  // namespace

TEST_CASE("h2p layer: TP AllGather, TP ReduceScatter per DP group, then global AllGather and ReduceScatter") {
  const auto s = duo_scenario(80);
  const auto g = model::build_inference_step_graph(s, h2p_plan());
  model::validate(g);
  std::vector<std::string> names;
  const auto c = collectives_named(g, "L0.", &names);
  REQUIRE(c.size() == 6);
  const std::vector<std::string> expected_names = {"L0.attn_allgather",     "L0.attn_allgather",
                                                   "L0.attn_reducescatter", "L0.attn_reducescatter",
                                                   "L0.moe_allgather",      "L0.moe_reducescatter"};
  CHECK(names == expected_names);
  const double hidden = 5120;
  // Attention groups: ranks 0-3 and 4-7 (one CPU domain each), 40 sequences each.
  for (int i = 0; i < 4; ++i) {
    const auto kind = i < 2 ? model::CollectiveKind::AllGather : model::CollectiveKind::ReduceScatter;
    CHECK(c[i]->kind == kind);
    CHECK(c[i]->elements == Approx(40 * hidden));
    CHECK(c[i]->ranks == std::vector<int>{4 * (i % 2), 4 * (i % 2) + 1, 4 * (i % 2) + 2, 4 * (i % 2) + 3});
    CHECK(c[i]->dtype == config::Dtype::FP16);  // W8A8: fp16 activations between the INT8 GEMMs
  }
  CHECK(c[4]->kind == model::CollectiveKind::AllGather);
  CHECK(c[5]->kind == model::CollectiveKind::ReduceScatter);
  for (int i = 4; i < 6; ++i) {
    CHECK(c[i]->ranks.size() == 8);
    CHECK(c[i]->elements == Approx(80 * hidden));
  }
  CHECK(collectives_named(g, "L0.attn_allreduce").empty());
  // 48 layers x 6, plus the head's AllGather of hidden states and of logits in each of the 2 DP groups.
  CHECK(g.collectives.size() == 48 * 6 + 2 + 2);
}

TEST_CASE("h2p pads each DP group's tokens to a multiple of its TP size") {
  const auto g = model::build_inference_step_graph(duo_scenario(1), h2p_plan());
  const auto c = collectives_named(g, "L5.");
  REQUIRE(c.size() == 6);
  CHECK(c[0]->elements == Approx(4 * 5120.0));  // 1 sequence padded to 4 in the busiest group
  CHECK(c[4]->elements == Approx(8 * 5120.0));  // both groups' padded shards gathered on every rank
  CHECK(model::padded_tokens(41, 4) == 44);
  // Padding rows route like one token: batch 1 still reads exactly 2 experts per EP rank (MoGE, ep 4).
  const auto s = duo_scenario(1);
  const double expert_half = model::expert_params(*s.model) / 2;  // expert_tp 2
  // 16 rows (8 padded tokens x 8 / ep 4): gate_up reads 5120 and writes 2 x 672 per row, down reads 672 and
  // writes 5120 (fp16); weights INT8.
  const double bytes = find_op(g, "L0.routed_gate_up", 3).compute.bytes + find_op(g, "L0.routed_down", 3).compute.bytes;
  CHECK(bytes == Approx(2 * expert_half + 16.0 * (5120 + 1344) * 2 + 16.0 * (672 + 5120) * 2));
}

TEST_CASE("h2p runs the norm on the 1/tp token shard before the AllGather, the ablation on all tokens") {
  const auto s = duo_scenario(80);
  auto plan = h2p_plan();
  const auto shard = find_op(model::build_inference_step_graph(s, plan), "L0.attn_norm", 0).compute.flops;
  plan.allgather_after_norm = false;
  const auto g = model::build_inference_step_graph(s, plan);
  CHECK(find_op(g, "L0.attn_norm", 0).compute.flops == Approx(4 * shard));  // -75% norm compute at tp 4
  // Without the shard norm the AllGather comes first: it precedes the norm in the op order.
  std::size_t gather = 0, norm = 0;
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].name == "L0.attn_allgather" && gather == 0) gather = i;
    if (g.ops[i].name == "L0.attn_norm" && norm == 0) norm = i;
  }
  CHECK(gather < norm);
}

TEST_CASE("h2p expert FLOPs over all ranks equal top_k routed plus all shared experts per token") {
  const auto s = duo_scenario(80);
  const auto g = model::build_inference_step_graph(s, h2p_plan());
  double routed = 0, shared = 0;
  for (const auto& op : g.ops) {
    for (const char* part : {".routed_gate_up", ".routed_down"}) {
      if (op.name.find(part) != std::string::npos) routed += op.compute.flops;
    }
    for (const char* part : {".shared_gate_up", ".shared_down"}) {
      if (op.name.find(part) != std::string::npos) shared += op.compute.flops;
    }
  }
  const auto f = model::flops_breakdown(*s.model, 2048, false);
  CHECK(routed == Approx(80.0 * f.routed_experts));
  CHECK(shared == Approx(80.0 * f.shared_experts));
  // Routed experts: 80 x 8 / ep 4 = 160 assignments per rank, each through half an expert (expert_tp 2).
  CHECK(find_op(g, "L0.routed_gate_up", 0).compute.flops + find_op(g, "L0.routed_down", 0).compute.flops ==
        Approx(2.0 * 160 * model::expert_params(*s.model) / 2));
}

TEST_CASE("h2p refuses experts that do not span every rank, and attention dp without h2p") {
  auto s = duo_scenario(80);
  CHECK_THROWS_WITH(model::build_inference_step_graph(s), Catch::Contains("/parallel/dp"));
  s.parallel.expert_tp = 1;
  CHECK_THROWS_WITH(model::build_inference_step_graph(s, h2p_plan()), Catch::Contains("ep x expert_tp must be 8"));
}

TEST_CASE("ep_alltoall: dispatch and combine AllToAlls of the shard's token-expert rows, routing on the shard") {
  auto s = duo_scenario(80);
  s.parallel.ep = 8;  // every rank an EP rank, whole experts
  s.parallel.expert_tp = 1;
  auto plan = h2p_plan();
  plan.shared_expert_tp = 1;
  const auto gather = model::build_inference_step_graph(s, plan);
  plan.moe_alltoall = true;
  const auto g = model::build_inference_step_graph(s, plan);
  model::validate(g);
  std::vector<std::string> names;
  const auto c = collectives_named(g, "L0.", &names);
  REQUIRE(c.size() == 6);
  CHECK(names[4] == "L0.moe_dispatch");
  CHECK(names[5] == "L0.moe_combine");
  CHECK(collectives_named(g, "L0.moe_allgather").empty());
  // 80 sequences over 2 attention groups of tp 4: a shard of 10 tokens per rank, 8 experts each (top-8 of MoGE)
  for (int i = 4; i < 6; ++i) {
    CHECK(c[i]->kind == model::CollectiveKind::AllToAll);
    CHECK(c[i]->ranks.size() == 8);
    CHECK(c[i]->elements == Approx(10 * 8 * 5120.0));
  }
  // the experts compute the same rows; the router and the shared experts see the rank's 10 tokens, not all 80
  CHECK(find_op(g, "L0.routed_gate_up", 3).compute.flops ==
        Approx(find_op(gather, "L0.routed_gate_up", 3).compute.flops));
  CHECK(find_op(g, "L0.router", 3).compute.flops == Approx(find_op(gather, "L0.router", 3).compute.flops / 8));
  CHECK(find_op(g, "L0.shared_gate_up", 3).compute.flops ==
        Approx(find_op(gather, "L0.shared_gate_up", 3).compute.flops));  // shared TP 1 on 80 / 8 tokens either way
}

TEST_CASE("inference expert load: each rank's routed rows follow its factor, ep_alltoall's pairs its share") {
  auto s = duo_scenario(80);
  s.parallel.ep = 8;
  s.parallel.expert_tp = 1;
  s.model->moe->routing = config::RoutingKind::TopK;  // plain top-8 of 64: a skew reaches the ranks
  s.inference->expert_load.distribution = config::ExpertLoadDistribution::Zipf;
  s.inference->expert_load.exponent = 1.0;
  auto plan = h2p_plan();
  plan.shared_expert_tp = 1;
  plan.moe_alltoall = true;
  const auto g = model::build_inference_step_graph(s, plan);
  model::validate(g);
  const auto load = model::expert_load(s);
  REQUIRE_FALSE(load.uniform());
  auto uniform_s = s;
  uniform_s.inference->expert_load = {};
  const auto u = model::build_inference_step_graph(uniform_s, plan);
  double factors = 0.0;
  for (int r = 0; r < 8; ++r) {
    INFO("rank " << r);
    const double f = load.factor(2, r);
    factors += f;
    CHECK(find_op(g, "L2.routed_gate_up", r).compute.flops ==
          Approx(f * find_op(u, "L2.routed_gate_up", r).compute.flops));
  }
  CHECK(factors == Approx(8.0));
  const auto c = collectives_named(g, "L2.moe_dispatch");
  REQUIRE(c.size() == 1);
  REQUIRE(c[0]->kind == model::CollectiveKind::AllToAllV);
  // 10 tokens x 8 rows each per sender, to rank j in proportion to its share; the combine mirrors it
  for (std::size_t j = 1; j < 8; ++j)
    CHECK(c[0]->per_pair_elements[0 * 8 + j] == Approx(10 * 8 * 5120.0 * load.receive_share(2, int(j))));
  const auto back = collectives_named(g, "L2.moe_combine");
  REQUIRE(back.size() == 1);
  CHECK(back[0]->per_pair_elements[3 * 8 + 0] == Approx(c[0]->per_pair_elements[0 * 8 + 3]));
  // MoGE (the model's own routing, one group per rank here): balanced whatever the skew
  auto moge = duo_scenario(80);
  moge.parallel.ep = 8;
  moge.parallel.expert_tp = 1;
  moge.inference->expert_load = s.inference->expert_load;
  CHECK(model::expert_load(moge).max_factor() == Approx(1.0));
}

// The tp_comm_overlap strategy "coc": its params and layout checks, and the chunked lists it gives the step builder
// (every TP collective chunked, same FLOPs, valid graph, chunked collectives off the compute chain).
#include <catch2/catch.hpp>

#include "../model/training_fixtures.hpp"
#include "model/op_graph.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/tp_comm_overlap_coc.hpp"
#include "strategy/training_step_builder.hpp"
#include "strategy_issues.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig tp_scenario(nlohmann::json params, int tp = 2, int seq = 1024) {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(tp, 2, 1, 1, 1, 1, false, true), seq, 1, 4);
  s.file = "x.json";
  s.strategies.push_back({"coc", std::move(params), "/strategies/0"});
  return s;
}

}  // namespace

TEST_CASE("coc params and layout are checked, with the JSON path") {
  CHECK(test::strategy_issues(tp_scenario(nlohmann::json::object())).empty());
  CHECK(test::strategy_issues(tp_scenario({{"chunks", 8}, {"fused_kernel", false}, {"shared_experts", false}})).empty());
  auto issues = test::strategy_issues(tp_scenario({{"chunks", 3}, {"overlap", true}}));
  CHECK(test::has_issue(issues, "/strategies/0/params/chunks", "expected 2, 4 or 8"));
  CHECK(test::has_issue(issues, "/strategies/0/params/overlap", "unknown key"));
  issues = test::strategy_issues(tp_scenario(nlohmann::json::object(), 1));
  CHECK(test::has_issue(issues, "/strategies/0/name", "needs tp > 1, got tp = 1"));
  // 1000 tokens over TP 2 with SP: 500 per rank, not a multiple of 8
  issues = test::strategy_issues(tp_scenario({{"chunks", 8}}, 2, 1000));
  CHECK(test::has_issue(issues, "/strategies/0/params/chunks", "500 tokens"));
  auto inference = tp_scenario(nlohmann::json::object());
  inference.type = config::ScenarioType::Inference;
  inference.training.reset();
  issues = test::strategy_issues(inference);
  CHECK(test::has_issue(issues, "/strategies/0/name", "needs a training scenario"));
}

TEST_CASE("coc: the step graph is valid, keeps the FLOPs, and its chunked TP collectives leave the chain") {
  auto plain = tp_scenario(nlohmann::json::object());
  plain.strategies.clear();
  const auto s = tp_scenario({{"chunks", 4}});
  CHECK(strategy::tp_chunking(plain).chunks == 1);
  CHECK(strategy::tp_chunking(s).chunks == 4);
  const auto a = strategy::build_training_step(plain, *strategy::make_pipeline_schedule(plain));
  const auto b = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  REQUIRE_NOTHROW(model::validate(b.graph));
  double fa = 0.0, fb = 0.0;
  int tp_a = 0, tp_b = 0, chunk_compute = 0;
  for (const auto& op : a.graph.ops) {
    fa += op.kind == model::OpKind::Compute ? op.compute.flops : 0.0;
    tp_a += op.kind == model::OpKind::Collective && op.phase == "tp_comm";
  }
  for (std::size_t i = 0; i < b.graph.ops.size(); ++i) {
    const auto& op = b.graph.ops[i];
    fb += op.kind == model::OpKind::Compute ? op.compute.flops : 0.0;
    tp_b += op.kind == model::OpKind::Collective && op.phase == "tp_comm";
    if (op.kind != model::OpKind::Compute || op.name.find("#c1") == std::string::npos) continue;
    ++chunk_compute;
    // a chunk after the first never waits for a ReduceScatter chunk (it runs beside it): its deps are compute of
    // the chain or its own AllGather chunk
    for (auto dep : op.deps) {
      const auto& d = b.graph.ops[static_cast<std::size_t>(dep)];
      if (d.kind != model::OpKind::Collective) continue;
      INFO(op.name << " waits for " << d.name);
      CHECK(b.graph.collectives[static_cast<std::size_t>(d.collective)].kind == model::CollectiveKind::AllGather);
    }
  }
  CHECK(fb == Approx(fa).epsilon(1e-12));
  CHECK(chunk_compute > 0);
  CHECK(tp_b > 2 * tp_a);
  // unchunked TP collectives: the loss's vocab-parallel AllReduce, the embedding's ReduceScatter and the
  // column-parallel backward's pair (input AllGather, dX ReduceScatter), which already overlap their
  // matmuls (model/column_parallel_backward; MindSpeed leaves them to it too: enable_coc_in_column_backward off)
  auto ends_with = [](const std::string& name, const std::string& end) {
    return name.size() >= end.size() && name.compare(name.size() - end.size(), end.size(), end) == 0;
  };
  for (const auto& op : b.graph.ops) {
    if (op.kind != model::OpKind::Collective || op.phase != "tp_comm" || op.name.find("#c") != std::string::npos)
      continue;
    INFO(op.name);
    CHECK((ends_with(op.name, "loss_ar") || ends_with(op.name, "embed_rs") || ends_with(op.name, "embed_rs_b") || ends_with(op.name, "_ag_b") ||
           ends_with(op.name, "_input_ag") || ends_with(op.name, "loss_ar_b")));
  }
}

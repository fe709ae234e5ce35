// Training step builder: a valid graph, FLOPs of the graph = 3 x forward model FLOPs x tokens, PP send/recv
// between neighbours, ZeRO-1 collectives, and the DP-symmetry reduction (rank count, volume scale).
#include <catch2/catch.hpp>

#include "../model/training_fixtures.hpp"
#include "config/scenario_config.hpp"
#include "model/model_stats.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"
#include "strategy_issues.hpp"

using namespace moesim;

namespace {

double graph_model_flops(const model::OpGraph& g) {
  double total = 0.0;
  for (const auto& op : g.ops) {
    if (op.kind == model::OpKind::Compute && op.compute.op_class != config::OpClass::Vector) total += op.compute.flops;
  }
  return total;
}

int count_collectives(const model::OpGraph& g, model::CollectiveKind kind) {
  int n = 0;
  for (const auto& c : g.collectives) n += c.kind == kind;
  return n;
}

}  // namespace

TEST_CASE("full-DP step graph: valid, FLOPs = 3 x forward x tokens, PP and ZeRO-1 collectives") {
  const auto s = test::training_scenario(test::tiny_moe_model(), test::layout(2, 2, 4, 2, 1, 2, true, true, 1), 1024, 1,
                                         16);  // 4 micro-batches per DP rank
  const auto schedule = strategy::make_pipeline_schedule(s);
  strategy::TrainingStepOptions options;
  options.reduce_dp = false;
  const auto step = strategy::build_training_step(s, *schedule, options);
  REQUIRE_NOTHROW(model::validate(step.graph));
  CHECK(step.graph.num_ranks == 16);
  CHECK(step.schedule == "interleaved_1f1b");
  const double expected = 3.0 * model::flops_per_token_forward(*s.model, 1024) * 16 * 1024;
  CHECK(graph_model_flops(step.graph) == Approx(expected).epsilon(1e-9));
  // 3 virtual-stage boundaries, each crossed by every micro-batch forward and backward on every stage rank (8)
  CHECK(count_collectives(step.graph, model::CollectiveKind::SendRecv) == 3 * 4 * 2 * 8);
  // per stage and chunk: dense grads RS over 4 DP ranks (2 TP groups), expert grads RS over expert-DP 2 (4 groups)
  CHECK(count_collectives(step.graph, model::CollectiveKind::ReduceScatter) >= 2 * 2 * (2 + 4));
}

TEST_CASE("PP sends go from a virtual stage to the next, wrapping from the last stage to stage 0") {
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 1, 2), 512, 1, 2);
  const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  int forward_wrap = 0, backward_wrap = 0;
  for (const auto& op : step.graph.ops) {
    if (op.kind != model::OpKind::Collective || op.phase != "pp_comm") continue;
    const auto& c = step.graph.collectives[static_cast<std::size_t>(op.collective)];
    REQUIRE(c.ranks.size() == 2);
    if (op.rank != c.ranks[0]) continue;  // count senders
    forward_wrap += op.name == "pp_send_act" && c.ranks == std::vector<int>{1, 0};
    backward_wrap += op.name == "pp_send_grad" && c.ranks == std::vector<int>{0, 1};
  }
  CHECK(forward_wrap == 2);  // 2 micro-batches, chunk 0 of stage 1 -> chunk 1 of stage 0
  CHECK(backward_wrap == 2);
}

TEST_CASE("DP-symmetry reduction keeps an EP group's replicas plus 2 and scales ring volumes") {
  auto p = test::layout(8, 16, 48, 2, 1, 4, true, true, 2);
  CHECK(strategy::reduced_dp(p) == 8);  // EP group spans 4 replicas; 6 would split one, so 8
  p.tp_extend_ep = false;
  CHECK(strategy::reduced_dp(p) == 3);  // EP inside the TP group
  p.dp = 3;
  CHECK(strategy::reduced_dp(p) == 3);  // nothing to reduce
  CHECK(strategy::dp_volume_scale(48, 8) == Approx((47.0 / 48) / (7.0 / 8)));
  CHECK(strategy::dp_volume_scale(8, 8) == 1.0);

  const auto s =
      test::training_scenario(test::tiny_moe_model(), test::layout(2, 2, 16, 1, 1, 2, true, true, 1), 1024, 1, 32);
  const auto reduced = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  CHECK(reduced.simulated_dp == 4);
  CHECK(reduced.graph.num_ranks == 2 * 4 * 2);
  REQUIRE_NOTHROW(model::validate(reduced.graph));
}

TEST_CASE("dualpipev: PP sends follow the V (down chunk 0, back up chunk 1), the last stage turns it locally") {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 1, 2), 512, 1, 4);
  s.strategies.push_back({"dualpipev", nlohmann::json::object(), "/strategies/0"});
  const auto schedule = strategy::make_pipeline_schedule(s);
  const auto step = strategy::build_training_step(s, *schedule);
  REQUIRE_NOTHROW(model::validate(step.graph));
  CHECK(step.schedule == "dualpipev");
  CHECK(graph_model_flops(step.graph) ==
        Approx(3.0 * model::flops_per_token_forward(*s.model, 512) * 4 * 512).epsilon(1e-9));
  int down = 0, up = 0, other = 0;
  for (const auto& op : step.graph.ops) {
    if (op.phase == "head" || op.phase == "embedding") CHECK(op.rank == 0);  // both ends of the V on stage 0
    if (op.kind != model::OpKind::Collective || op.phase != "pp_comm") continue;
    const auto& c = step.graph.collectives[static_cast<std::size_t>(op.collective)];
    if (op.rank != c.ranks[0]) continue;  // count senders
    if (c.ranks == std::vector<int>{0, 1}) {
      ++down;  // chunk 0 forward, chunk 1 backward
    } else if (c.ranks == std::vector<int>{1, 0}) {
      ++up;  // chunk 1 forward, chunk 0 backward
    } else {
      ++other;
    }
  }
  // 4 micro-batches cross 2 stage boundaries forward and backward; the turn (stage 1 chunk 0 -> chunk 1) sends nothing
  CHECK(down == 8);
  CHECK(up == 8);
  CHECK(other == 0);
}

TEST_CASE("schedule layout checks: 1f1b with vpp > 1, interleaved micro-batches, dualpipev vpp and micro-batches") {
  const std::string file = std::string(MOESIM_SOURCE_DIR) + "/scenarios/ultra_moe_718b_train_6144.json";
  const auto issues = [&](std::vector<std::string> overrides) {
    return test::strategy_issues(config::load_scenario(file, overrides));
  };
  CHECK(test::has_issue(issues({"training.global_batch_size=1632"}), "/training/global_batch_size",
                        "to be a multiple of pp (16)"));
  CHECK(test::has_issue(issues({R"(strategies=[{"name": "1f1b"}])"}), "/parallel/vpp", "use interleaved_1f1b"));
  CHECK(test::has_issue(issues({R"(strategies=[{"name": "dualpipev"}])", "parallel.vpp=4"}), "/parallel/vpp",
                        "needs vpp = 2"));
  CHECK(test::has_issue(issues({R"(strategies=[{"name": "dualpipev"}])", "training.global_batch_size=1536"}),
                        "/training/global_batch_size", "at least 2 x pp = 32"));
  // dualpipev needs no multiple of pp: 33 micro-batches per DP rank
  CHECK(issues({R"(strategies=[{"name": "dualpipev"}])", "training.global_batch_size=3168"}).empty());
  CHECK(issues({"training.global_batch_size=1536"}).empty());
}

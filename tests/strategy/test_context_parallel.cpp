// The context_parallel family: which algorithm a scenario selects, its layout checks with their JSON paths, and
// step graphs that keep the FLOPs whatever the algorithm.
#include <catch2/catch.hpp>
#include <algorithm>

#include "../model/training_fixtures.hpp"
#include "model/op_graph.hpp"
#include "strategy/context_parallel.hpp"
#include "strategy/context_parallel_hybrid.hpp"
#include "strategy/data_balance_sequences.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"
#include "strategy_issues.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig cp_scenario(const std::string& algorithm, int cp = 4, int seq = 1024, int tp = 2) {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(tp, 1, 1, 1, cp), seq, 1, 2);
  s.file = "x.json";
  if (!algorithm.empty()) s.strategies.push_back({algorithm, nlohmann::json::object(), "/strategies/0"});
  return s;
}

double compute_flops(const model::OpGraph& g) {
  double f = 0.0;
  for (const auto& op : g.ops) f += op.kind == model::OpKind::Compute ? op.compute.flops : 0.0;
  return f;
}

}  // namespace

TEST_CASE("context_parallel: the selected algorithm, kv_allgather by default") {
  CHECK(strategy::cp_algorithm(cp_scenario("")) == model::CpAlgorithm::KvAllGather);
  CHECK(strategy::cp_algorithm(cp_scenario("kv_allgather")) == model::CpAlgorithm::KvAllGather);
  CHECK(strategy::cp_algorithm(cp_scenario("ring_attention")) == model::CpAlgorithm::Ring);
  CHECK(strategy::cp_algorithm(cp_scenario("ulysses")) == model::CpAlgorithm::Ulysses);
  auto hybrid = cp_scenario("hybrid_cp");
  hybrid.strategies[0].params = {{"ulysses_degree", 2}};
  CHECK(strategy::cp_algorithm(hybrid) == model::CpAlgorithm::Hybrid);
  CHECK(strategy::cp_ulysses_degree(hybrid) == 2);
  CHECK(strategy::cp_ulysses_degree(cp_scenario("ulysses")) == 1);
  CHECK(test::strategy_issues(hybrid).empty());
  for (const char* name : {"kv_allgather", "ring_attention", "ulysses"}) {
    INFO(name);
    CHECK(test::strategy_issues(cp_scenario(name)).empty());
  }
}

TEST_CASE("context_parallel layout checks: cp > 1, ring chunks, Ulysses heads, one algorithm") {
  auto issues = test::strategy_issues(cp_scenario("ring_attention", 1));
  CHECK(test::has_issue(issues, "/strategies/0/name", "needs cp > 1, got cp = 1"));
  // 1004 tokens do not split into 2 x 4 chunks
  issues = test::strategy_issues(cp_scenario("ring_attention", 4, 1004));
  CHECK(test::has_issue(issues, "/training/seq_len", "2 x cp = 8 equal chunks"));
  // 16 heads over tp 2 x cp 16 = 32 ranks
  issues = test::strategy_issues(cp_scenario("ulysses", 16, 1024, 2));
  CHECK(test::has_issue(issues, "/parallel/cp", "tp x cp = 32 ranks a share of the 16 attention heads"));
  // hybrid_cp: ulysses_degree required, >= 2, a proper divisor of cp, heads over tp x u
  auto hybrid = [](nlohmann::json params, int cp = 4, int tp = 2) {
    auto s = cp_scenario("hybrid_cp", cp, 1024, tp);
    s.strategies[0].params = std::move(params);
    return test::strategy_issues(s);
  };
  CHECK(test::has_issue(hybrid(nlohmann::json::object()), "/strategies/0/params/ulysses_degree", "missing"));
  CHECK(test::has_issue(hybrid({{"ulysses_degree", 1}}), "/strategies/0/params/ulysses_degree",
                        "expected an integer >= 2 (1 is plain ring_attention), got 1"));
  CHECK(test::has_issue(hybrid({{"ulysses_degree", 4}}), "/strategies/0/params/ulysses_degree",
                        "expected a divisor of cp = 4 below it (cp itself is plain ulysses), got 4"));
  CHECK(test::has_issue(hybrid({{"ulysses_degree", 3}}, 6), "/strategies/0/params/ulysses_degree",
                        "tp x ulysses_degree = 6 ranks a share of the 16 attention heads"));
  CHECK(hybrid({{"ulysses_degree", 4}}, 16, 2).empty());  // CP 16 past Ulysses' 8-way limit at tp 2
  auto both = cp_scenario("ulysses");
  both.strategies.push_back({"ring_attention", nlohmann::json::object(), "/strategies/1"});
  issues = test::strategy_issues(both);
  CHECK(test::has_issue(issues, "/strategies/1/name", "more than one \"context_parallel\" strategy"));
}

TEST_CASE("every CP algorithm builds a valid step graph with the same FLOPs") {
  const auto base = cp_scenario("");
  const auto reference = strategy::build_training_step(base, *strategy::make_pipeline_schedule(base));
  for (const char* name : {"ring_attention", "ulysses", "hybrid_cp"}) {
    INFO(name);
    auto s = cp_scenario(name);
    if (std::string(name) == "hybrid_cp") s.strategies[0].params = {{"ulysses_degree", 2}};
    const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
    REQUIRE_NOTHROW(model::validate(step.graph));
    CHECK(compute_flops(step.graph) == Approx(compute_flops(reference.graph)).epsilon(1e-12));
  }
}

TEST_CASE("balanced params: mode static or dynamic, dynamic's interval_steps and min_gain, steps and expert_tp") {
  auto moe = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 4);
  moe.file = "m.json";
  moe.training->steps = 2;
  const auto with = [&](nlohmann::json params) {
    auto s = moe;
    s.strategies = {{"balanced", std::move(params), "/strategies/0"}};
    return test::strategy_issues(s);
  };
  CHECK(with({{"mode", "dynamic"}, {"interval_steps", 2}, {"min_gain", 0.1}}).empty());
  CHECK(with({{"mode", "static"}}).empty());
  CHECK(test::has_issue(with({{"mode", "dynamic"}, {"min_gain", 1.5}}), "/strategies/0/params/min_gain",
                        "expected a relative gain below 1"));
  CHECK(test::has_issue(with({{"mode", "dynamic"}, {"interval_steps", 0}}), "/strategies/0/params/interval_steps",
                        "expected an integer"));
  CHECK(test::has_issue(with({{"interval_steps", 2}}), "/strategies/0/params/interval_steps", "unknown key"));
  CHECK(test::has_issue(with({{"mode", "sometimes"}}), "/strategies/0/params/mode", "expected one of"));
  moe.training->steps = 1;
  CHECK(test::has_issue(with({{"mode", "dynamic"}}), "/strategies/0/params/mode",
                        "it needs training.steps >= 2, got 1"));
  moe.training->steps = 2;
  moe.parallel.expert_tp = 2;
  CHECK(test::has_issue(with({{"mode", "dynamic"}}), "/strategies/0/params/mode", "it needs expert_tp 1"));
}

TEST_CASE("balanced_moe layout checks: MoE with EP, flat all-to-all, expert_tp 1, fewer hot experts than experts") {
  auto moe = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 4);
  moe.file = "m.json";
  moe.strategies = {{"balanced_moe", {{"hot_experts", 3}}, "/strategies/0"}};
  CHECK(test::strategy_issues(moe).empty());
  auto many = moe;
  many.strategies = {{"balanced_moe", {{"hot_experts", 16}}, "/strategies/0"}};
  CHECK(test::has_issue(test::strategy_issues(many), "/strategies/0/params/hot_experts",
                        "fewer hot experts than the 16 routed experts, got 16"));
  auto zero = moe;
  zero.strategies = {{"balanced_moe", {{"hot_experts", 0}}, "/strategies/0"}};
  CHECK(test::has_issue(test::strategy_issues(zero), "/strategies/0/params/hot_experts", "expected an integer"));
  auto hier = moe;
  hier.strategies = {{"hierarchical_ep", nlohmann::json::object(), "/strategies/0"},
                     {"balanced_moe", nlohmann::json::object(), "/strategies/1"}};
  CHECK(test::has_issue(test::strategy_issues(hier), "/strategies/1/name", "drop hierarchical_ep"));
  auto dense = cp_scenario("");
  dense.strategies = {{"balanced_moe", nlohmann::json::object(), "/strategies/0"}};
  CHECK(test::has_issue(test::strategy_issues(dense), "/strategies/0/name", "needs a training scenario of an MoE"));
}

// Documents under CP (training.documents): the attention core of each rank follows its query shard's masked pairs.
TEST_CASE("context_parallel with documents: each rank's attention follows its shard, the total the step's work") {
  auto per_rank_attention = [](const config::ScenarioConfig& s) {
    const auto schedule = strategy::make_pipeline_schedule(s);
    const auto step = strategy::build_training_step(s, *schedule, {});
    std::vector<double> out(8, 0.0);
    for (const auto& op : step.graph.ops) {
      if (op.kind == model::OpKind::Compute && op.compute.op_class == config::OpClass::Attention)
        out[static_cast<std::size_t>(op.rank)] += op.compute.flops;
    }
    return out;
  };
  for (const std::string algorithm : {"kv_allgather", "ring_attention", "ulysses", "hybrid_cp"}) {
    CAPTURE(algorithm);
    auto s = cp_scenario(algorithm);
    s.training->global_batch_size = 8;
    if (algorithm == "hybrid_cp") s.strategies[0].params = {{"ulysses_degree", 2}};
    const auto plain = per_rank_attention(s);
    s.training->documents = config::DocumentLengths{256.0, 1.0};
    const auto docs = per_rank_attention(s);
    const auto work = strategy::scenario_attention_work(s);
    const int shards = strategy::cp_query_shards(s);
    CHECK(work.cp_shards == shards);
    CHECK(shards == (algorithm == "ulysses" ? 1 : algorithm == "hybrid_cp" ? 2 : 4));
    double mean = 0.0, total_plain = 0.0, total_docs = 0.0;
    for (int k = 0; k < 8; ++k) mean += work.at(0, k) / 8.0;
    for (int r = 0; r < 8; ++r) {  // rank = tp + 2 cp
      const int p = (r / 2) / (4 / shards);
      double expected = 0.0;
      for (int k = 0; k < 8; ++k) expected += work.shard_queries(0, k, p) / 8.0;
      CHECK(docs[static_cast<std::size_t>(r)] == Approx(plain[static_cast<std::size_t>(r)] * expected));
      total_plain += plain[static_cast<std::size_t>(r)];
      total_docs += docs[static_cast<std::size_t>(r)];
    }
    CHECK(mean < 0.7);
    CHECK(total_docs == Approx(total_plain * mean));
    const auto [lo, hi] = std::minmax_element(docs.begin(), docs.end());
    if (shards > 1) {
      CHECK(*hi > 1.02 * *lo);  // shards differ
      CHECK(work.cp_shard_max_over_mean() > 1.02);
    } else {
      CHECK(*hi == Approx(*lo));
    }
  }
  // KV AllGather counts pairs on two mirrored half-chunks per rank: seq_len a multiple of 2 x cp
  auto odd = cp_scenario("", 4, 1028);
  odd.training->documents = config::DocumentLengths{256.0, 1.0};
  CHECK(test::has_issue(test::strategy_issues(odd), "/training/seq_len", "divisible by 2 x cp = 8, got 1028"));
}

// The step builder under a skewed expert load: each rank's routed-expert FLOPs follow its load factor (the EP
// group's total is the uniform one), and the dispatch rows sent to a rank follow its share (the combine's come
// back the same way).
#include <catch2/catch.hpp>
#include <cctype>
#include <map>

#include "../model/training_fixtures.hpp"
#include "config/scenario_config.hpp"
#include "model/expert_load.hpp"
#include "model/model_stats.hpp"
#include "model/training_layout.hpp"
#include "strategy/catalog.hpp"
#include "strategy/expert_balancing_balanced_moe.hpp"
#include "strategy/expert_placement_balanced.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;

namespace {

// Tiny MoE, TP1 PP1 DP4 = EP4 (4 experts per rank), 2 micro-batches per rank.
config::ScenarioConfig scenario(double exponent) {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 8);
  if (exponent > 0.0) {
    s.training->expert_load.distribution = config::ExpertLoadDistribution::Zipf;
    s.training->expert_load.exponent = exponent;
  }
  return s;
}

// Per rank: FLOPs of grouped-matmul ops.
std::map<int, double> expert_flops(const model::OpGraph& g) {
  std::map<int, double> out;
  for (const auto& op : g.ops) {
    if (op.kind == model::OpKind::Compute && op.compute.op_class == config::OpClass::GroupedMatmul)
      out[op.rank] += op.compute.flops;
  }
  return out;
}

}  // namespace

TEST_CASE("skewed expert load: per-rank expert FLOPs follow the load factors, the group total is unchanged") {
  const auto uniform_s = scenario(0.0);
  const auto skewed_s = scenario(1.0);
  strategy::TrainingStepOptions full;
  full.reduce_dp = false;
  const auto uniform = strategy::build_training_step(uniform_s, *strategy::make_pipeline_schedule(uniform_s), full);
  const auto skewed = strategy::build_training_step(skewed_s, *strategy::make_pipeline_schedule(skewed_s), full);
  REQUIRE_NOTHROW(model::validate(skewed.graph));
  const auto u = expert_flops(uniform.graph), k = expert_flops(skewed.graph);
  double total_u = 0.0, total_k = 0.0;
  for (const auto& [r, f] : u) total_u += f;
  for (const auto& [r, f] : k) total_k += f;
  CHECK(total_k == Approx(total_u).epsilon(1e-9));
  const auto load = model::expert_load(skewed_s);
  const model::TrainingLayout layout(skewed_s.parallel, 4, skewed_s.topology.ranks_per_node());
  for (int r = 0; r < 4; ++r) {
    const auto group = layout.ep_group(r);
    const int index = static_cast<int>(std::find(group.begin(), group.end(), r) - group.begin());
    // every MoE layer has its own factor: the rank's FLOPs lie between its smallest and largest
    double lo = 1e9, hi = 0.0;
    for (int layer = 1; layer < 6; ++layer) {
      lo = std::min(lo, load.factor(layer, index));
      hi = std::max(hi, load.factor(layer, index));
    }
    INFO("rank " << r);
    CHECK(k.at(r) >= lo * u.at(r) * (1 - 1e-9));
    CHECK(k.at(r) <= hi * u.at(r) * (1 + 1e-9));
  }
  // the first MoE layer's dispatch: what each member receives is proportional to its share
  for (const auto& op : skewed.graph.ops) {
    if (op.kind != model::OpKind::Collective || op.name != "L1.dispatch" || op.rank != 0) continue;
    const auto& c = skewed.graph.collectives[static_cast<std::size_t>(op.collective)];
    REQUIRE(c.kind == model::CollectiveKind::AllToAllV);
    const std::size_t n = c.ranks.size();  // one EP group, in EP order
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t k = 0; k < n; ++k) {
          if (j == i || k == i) continue;
          INFO("sender " << i << ", receivers " << j << " and " << k);
          CHECK(c.per_pair_elements[i * n + j] * load.factor(1, static_cast<int>(k)) ==
                Approx(c.per_pair_elements[i * n + k] * load.factor(1, static_cast<int>(j))));
        }
      }
    }
    break;
  }
}

TEST_CASE("per-micro-batch loads: each micro-batch's expert FLOPs and dispatch rows follow its own load") {
  const auto uniform_s = scenario(0.0);
  auto varied_s = scenario(0.0);
  varied_s.training->expert_load.micro_batch_sigma = 0.5;
  strategy::TrainingStepOptions full;
  full.reduce_dp = false;
  const auto uniform = strategy::build_training_step(uniform_s, *strategy::make_pipeline_schedule(uniform_s), full);
  const auto varied = strategy::build_training_step(varied_s, *strategy::make_pipeline_schedule(varied_s), full);
  REQUIRE_NOTHROW(model::validate(varied.graph));
  const auto loads = model::expert_load_steps(varied_s, {});
  REQUIRE(loads.micro_batches[0].size() == 2);
  // per rank and MoE layer: the FLOPs over both micro-batches = the uniform ones x the mean of the two factors
  auto by_layer = [](const model::OpGraph& g) {
    std::map<std::pair<int, std::string>, double> out;
    for (const auto& op : g.ops) {
      if (op.kind != model::OpKind::Compute || op.compute.op_class != config::OpClass::GroupedMatmul) continue;
      const std::string name = op.name;
      out[{op.rank, name.substr(0, name.find('.'))}] += op.compute.flops;
    }
    return out;
  };
  const auto u = by_layer(uniform.graph), v = by_layer(varied.graph);
  const model::TrainingLayout layout(varied_s.parallel, 4, varied_s.topology.ranks_per_node());
  int checked = 0;
  for (const auto& [key, flops] : u) {
    const auto [rank, label] = key;
    if (label.size() < 2 || label[0] != 'L' || !std::isdigit(static_cast<unsigned char>(label[1]))) continue;
    const int layer = std::stoi(label.substr(1));
    const auto group = layout.ep_group(rank);
    const int index = static_cast<int>(std::find(group.begin(), group.end(), rank) - group.begin());
    const double mean = (loads.at(0, 0).factor(layer, index) + loads.at(0, 1).factor(layer, index)) / 2.0;
    INFO("rank " << rank << " " << label);
    CHECK(v.at(key) == Approx(flops * mean).epsilon(1e-9));
    ++checked;
  }
  CHECK(checked == 4 * 5);
  // the two forward dispatches of layer 1 carry different rows, each its micro-batch's shares
  std::vector<std::vector<double>> dispatches;
  for (const auto& op : varied.graph.ops) {
    if (op.kind != model::OpKind::Collective || op.name != "L1.dispatch" || op.rank != 0) continue;
    dispatches.push_back(varied.graph.collectives[static_cast<std::size_t>(op.collective)].per_pair_elements);
  }
  REQUIRE(dispatches.size() >= 2);
  CHECK(dispatches[0] != dispatches[1]);
  const double ratio = dispatches[0][0 * 4 + 1] / dispatches[0][0 * 4 + 2];  // sender 0 to EP ranks 1 and 2
  const auto& first = loads.at(0, dispatches[0] == dispatches[1] ? 1 : 0);
  CHECK(ratio == Approx(first.receive_share(1, 1) / first.receive_share(1, 2)));
}

TEST_CASE("balanced_moe: one broadcast per hot expert after the router, rooted at its owner, and fewer rows sent") {
  auto s = scenario(1.0);
  s.strategies = {{"balanced_moe", {{"hot_experts", 2}}, "/strategies/0"}};
  strategy::TrainingStepOptions full;
  full.reduce_dp = false;
  const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s), full);
  REQUIRE_NOTHROW(model::validate(step.graph));
  const auto load = model::expert_load(s, model::ExpertPlacement::Contiguous, 2);
  int broadcasts = 0;
  for (const auto& op : step.graph.ops) {
    if (op.kind != model::OpKind::Collective || op.rank != 0) continue;
    const auto& c = step.graph.collectives[static_cast<std::size_t>(op.collective)];
    if (op.name.rfind("L1.hot_bcast", 0) == 0) {
      ++broadcasts;
      CHECK(c.kind == model::CollectiveKind::Broadcast);
      CHECK(c.root == load.hot_owner_of(1, op.name[12] - '0'));  // "L1.hot_bcast<k>[_b]"
    }
    if (op.name == "L1.dispatch") {  // sender 0 sends each peer j its non-hot rows only
      const std::size_t n = c.ranks.size();
      for (std::size_t j = 1; j < n; ++j)
        CHECK(c.per_pair_elements[j] == Approx(c.elements * load.receive_share(1, static_cast<int>(j))));
    }
  }
  CHECK(broadcasts == 2 * 2 * 2);  // 2 hot experts x 2 micro-batches x (forward + backward)
  CHECK(strategy::hot_experts(s) == 2);
  auto defaults = s;
  defaults.strategies = {{"balanced_moe", nlohmann::json::object(), "/strategies/0"}};
  CHECK(strategy::hot_experts(defaults) == 3);  // MindSpeed's default
}

TEST_CASE("dynamic balanced placement's swap costs: the hot rank's expert time per share, transfers per link") {
  const std::string file = std::string(MOESIM_SOURCE_DIR) + "/scenarios/calibration/ultra_moe_718b_train_6144.json";
  const std::string dynamic =
      R"(strategies=[{"name": "hierarchical_ep"}, {"name": "balanced", "params": {"mode": "dynamic"}}])";
  const auto s = config::load_scenario(file, {"training.steps=2", dynamic});
  const auto policy = strategy::expert_placement_policy(s);
  REQUIRE(policy.dynamic);
  CHECK(policy.min_gain == 0.0);
  CHECK(policy.interval_steps == 1);
  REQUIRE(policy.costs.move_s.size() == 32 * 32);  // TP-extend-EP: 32 ranks over 4 nodes
  // one expert: 47.2 M parameters x (2 bytes bf16 + 12 bytes of optimizer state over an expert-DP group of 12)
  const double bytes = model::expert_params(*s.model) * (2.0 + 12.0 / 12.0);
  double lo = 1e9, hi = 0.0;
  for (std::size_t i = 0; i < 32; ++i) {
    CHECK(policy.costs.move_s[i * 32 + i] == 0.0);
    for (std::size_t j = 0; j < 32; ++j) {
      if (i == j) continue;
      lo = std::min(lo, policy.costs.move_s[i * 32 + j]);
      hi = std::max(hi, policy.costs.move_s[i * 32 + j]);
    }
  }
  CHECK(lo == Approx(bytes / 56e9).epsilon(0.01));  // HCCS pair link inside a node
  CHECK(hi == Approx(bytes / 25e9).epsilon(0.01));  // the RoCE port across nodes
  // linear in the micro-batches of the step (the saving is per step)
  const auto twice = strategy::expert_placement_policy(
      config::load_scenario(file, {"training.steps=2", "training.global_batch_size=6144", dynamic}));
  CHECK(twice.costs.seconds_per_share == Approx(2.0 * policy.costs.seconds_per_share));
  CHECK(policy.costs.seconds_per_share > 0.0);
  // cost_aware off: no cost test
  const std::string blind_set =
      R"(strategies=[{"name": "balanced", "params": {"mode": "dynamic", "cost_aware": false}}])";
  const auto blind = strategy::expert_placement_policy(config::load_scenario(file, {"training.steps=2", blind_set}));
  CHECK(blind.costs.move_s.empty());
  // redundant experts are an inference placement
  config::IssueCollector issues(file);
  strategy::validate_strategies(
      config::load_scenario(file, {R"(strategies=[{"name": "balanced", "params": {"redundant_per_rank": 1}}])"}),
      issues);
  CHECK_THROWS_WITH(issues.throw_if_any(), Catch::Contains("/strategies/0/params/redundant_per_rank: redundant "
                                                           "experts are an inference placement"));
}

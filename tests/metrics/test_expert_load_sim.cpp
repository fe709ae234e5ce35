// A skewed expert load on the engine (each simulation in a forked child): the step gets longer than with the
// uniform load (every all-to-all waits for its busiest rank), and MoGE with one group per EP rank is exactly as
// fast as the uniform load whatever the skew inside the groups.
#include <catch2/catch.hpp>

#include "../model/training_fixtures.hpp"
#include "metrics/training_metrics.hpp"
#include "model/expert_load.hpp"
#include "step_sim.hpp"
#include "strategy/catalog.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig moe_scenario(double exponent, bool moge = false) {
  auto model = test::tiny_moe_model();
  model.mtp_layers = 0;
  if (moge) {  // 4 groups of 4 experts, one per EP rank
    model.moe->routing = config::RoutingKind::MoGE;
    model.moe->num_groups = 4;
    model.moe->top_k_per_group = 1;
    model.moe->top_k = 4;
  }
  auto s = test::training_scenario(model, test::layout(1, 1, 4, 1, 1, 4), 2048, 1, 8);
  s.topology = test::tiny_topology(1, 4, {test::mesh(10e9, 2e-6)});
  if (exponent > 0.0) {
    s.training->expert_load.distribution = config::ExpertLoadDistribution::Zipf;
    s.training->expert_load.exponent = exponent;
  }
  return s;
}

double makespan(const config::ScenarioConfig& s) {
  const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  return test::simulate_in_child(s.topology, step.graph, {}).at(0);
}

}  // namespace

TEST_CASE("a skewed expert load lengthens the step, MoGE with whole groups per rank cancels it") {
  const double uniform = makespan(moe_scenario(0.0));
  const double skewed = makespan(moe_scenario(1.0));
  CHECK(skewed > 1.05 * uniform);
  const double moge_uniform = makespan(moe_scenario(0.0, true));
  const double moge_skewed = makespan(moe_scenario(1.0, true));
  CHECK(moge_skewed == Approx(moge_uniform).epsilon(1e-9));
}

TEST_CASE("balanced expert placement shortens a skewed step, and is checked for an EP layout") {
  const double skewed = makespan(moe_scenario(1.0));
  auto balanced_s = moe_scenario(1.0);
  balanced_s.strategies = {{"balanced", nlohmann::json::object(), "/strategies/0"}};
  const double balanced = makespan(balanced_s);
  const double uniform = makespan(moe_scenario(0.0));
  CHECK(balanced < 0.97 * skewed);
  CHECK(balanced >= uniform * (1 - 1e-9));  // whole experts: no better than a perfectly even load
  auto dense = test::training_scenario(test::tiny_dense_model(), test::layout(1, 1, 4), 1024, 1, 4);
  dense.file = "d.json";
  dense.strategies = {{"balanced", nlohmann::json::object(), "/strategies/0"}};
  config::IssueCollector issues("d.json");
  strategy::validate_strategies(dense, issues);
  CHECK_THROWS_WITH(issues.throw_if_any(), Catch::Contains("/strategies/0/name: balanced places routed experts"));
}

TEST_CASE("balanced_moe costs its broadcasts on a balanced load and lowers the rows of the hottest rank") {
  auto with = [](double exponent) {
    auto s = moe_scenario(exponent);
    s.strategies = {{"balanced_moe", {{"hot_experts", 1}}, "/strategies/0"}};
    return s;
  };
  // nothing to balance: the broadcasts (and the gradients back) only add EP time
  CHECK(makespan(with(0.0)) > makespan(moe_scenario(0.0)));
  const auto s = with(1.0);
  const auto run = test::simulate_training_step(s);
  const auto m = metrics::training_metrics(s, run.step.graph, run.result);
  const double plain = model::expert_load(moe_scenario(1.0)).max_factor();
  CHECK(m["expert_load_max_factor"].get<double>() < plain);
}

TEST_CASE("micro-batch to micro-batch variation lengthens a balanced step, MoGE's whole groups again cancel it") {
  auto varied = [](bool moge, bool sampled, double sigma) {
    auto s = moe_scenario(0.0, moge);
    s.training->expert_load.sampled = sampled;
    s.training->expert_load.micro_batch_sigma = sigma;
    return s;
  };
  const double uniform = makespan(moe_scenario(0.0));
  const double sigma = makespan(varied(false, false, 0.5));
  const double sampled = makespan(varied(false, true, 0.0));
  CHECK(sigma > 1.03 * uniform);
  // 4 ranks x 2048 tokens x top-2 rows per micro-batch: a multinomial spread of about 1 % per rank, a small cost
  CHECK(sampled > uniform);
  CHECK(sampled < 1.03 * uniform);
  CHECK(makespan(varied(true, true, 0.5)) == Approx(makespan(moe_scenario(0.0, true))).epsilon(1e-9));
  // the metric reports the hottest micro-batch's factor
  const auto s = varied(false, false, 0.5);
  const auto run = test::simulate_training_step(s);
  const auto m = metrics::training_metrics(s, run.step.graph, run.result);
  CHECK(m["expert_load_max_factor"].get<double>() == Approx(model::expert_load_steps(s, {}).max_factor()));
  CHECK(m["expert_load_max_factor"].get<double>() > 1.1);
}

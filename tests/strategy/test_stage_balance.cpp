// Strategy "stage_balance" (EDPB pipeline balancing): the cut it chooses sums to the model's layers, never scores
// worse than the scenario's own cut, moves layers off a stage that holds a heavy LM head, keeps a cut that is already
// balanced, starts from the padded cut, never raises the peak memory past both the device and the start, and its
// layout checks name the key at fault.
#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>

#include "../model/training_fixtures.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/pipeline_stage_balance.hpp"
#include "strategy_issues.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig with_balance(config::ScenarioConfig s) {
  config::StrategySpec spec;
  spec.name = "stage_balance";
  spec.params = nlohmann::json::object();
  spec.pointer = "/strategies/0";
  s.strategies.push_back(spec);
  s.topology = config::load_topology(std::string(MOESIM_SOURCE_DIR) + "/topologies/atlas_800t_a2.json");
  return s;
}

// Tiny dense model, TP 1, PP 4, 8 micro-batches of 4K tokens, on one Atlas 800T A2 node (pp x dp = 8 ranks).
config::ScenarioConfig dense(int vocab, int layers = 8) {
  auto model = test::tiny_dense_model(layers);
  model.vocab = vocab;
  return with_balance(test::training_scenario(model, test::layout(1, 4, 2), 4096, 1, 16));
}

double max_of(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end());
}

}  // namespace

TEST_CASE("stage_balance moves layers off the last stage when the LM head is heavy") {
  const auto s = dense(400000);  // head = 2 x 2048 x 400K flop per token: several layers' worth
  const auto b = strategy::balance_stages(s);
  REQUIRE(b.layers_per_position.size() == 4);
  CHECK(std::accumulate(b.layers_per_position.begin(), b.layers_per_position.end(), 0) == 8);
  CHECK(b.start_layers_per_position == std::vector<int>{2, 2, 2, 2});
  CHECK(b.layers_per_position.back() < 2);
  CHECK(b.estimate_s < b.start_estimate_s);
  CHECK(max_of(b.stage_time_s) < max_of(b.start_stage_time_s));
  // deterministic
  CHECK(strategy::balance_stages(s).layers_per_position == b.layers_per_position);
}

TEST_CASE("stage_balance keeps an even cut when the embedding and head are nearly free") {
  const auto b = strategy::balance_stages(dense(1024));
  CHECK(b.layers_per_position == std::vector<int>{2, 2, 2, 2});
  CHECK(b.estimate_s == Approx(b.start_estimate_s));
}

TEST_CASE("stage_balance starts from the scenario's padded cut and writes its choice into the layout") {
  auto s = dense(400000, 7);
  s.parallel.padding_layers = 1;  // 7 layers + 1 no-op after them: [L0 L1] [L2 L3] [L4 L5] [L6 pad]
  const auto b = strategy::balance_stages(s);
  CHECK(b.start_layers_per_position == std::vector<int>{2, 2, 2, 1});
  CHECK(b.estimate_s <= b.start_estimate_s);
  strategy::apply_stage_balance(s);
  CHECK(s.parallel.layers_per_virtual_stage == b.layers_per_position);
  CHECK(s.parallel.padding_layers == 0);
  // the cut is one the layer assignment accepts
  const auto stages = model::assign_layers(*s.model, s.parallel);
  int layers = 0;
  for (const auto& vs : stages) layers += static_cast<int>(vs.slots.size());
  CHECK(layers == 7);
}

TEST_CASE("stage_balance on an interleaved MoE pipeline with MTP: the last position keeps the MTP module") {
  auto s = with_balance(
      test::training_scenario(test::tiny_moe_model(), test::layout(2, 2, 2, 2, 1, 2, true, true, 1), 4096, 1, 8));
  const auto b = strategy::balance_stages(s);
  REQUIRE(b.layers_per_position.size() == 4);
  CHECK(std::accumulate(b.layers_per_position.begin(), b.layers_per_position.end(), 0) == 6);
  CHECK(b.estimate_s <= b.start_estimate_s);
  strategy::apply_stage_balance(s);
  const auto stages = model::assign_layers(*s.model, s.parallel);
  const auto& last = stages.back();  // chunk 1 of stage 1: pipeline position 3
  REQUIRE(!last.slots.empty());
  CHECK(last.slots.back().kind == model::SlotKind::Mtp);
}

TEST_CASE("stage_balance layout checks: a pipeline and a training scenario") {
  auto flat = dense(1024);
  flat.parallel.pp = 1;
  flat.parallel.dp = 8;
  CHECK(test::has_issue(test::strategy_issues(flat), "/strategies/0/name", "parallel.pp >= 2"));
  auto inference = dense(1024);
  inference.type = config::ScenarioType::Inference;
  CHECK(test::has_issue(test::strategy_issues(inference), "/strategies/0/name", "needs a training scenario"));
  CHECK(test::strategy_issues(dense(1024)).empty());
}

namespace {

// Keep-everything peak over the stages of a cut (the guard's measure).
double peak_bytes(const config::ScenarioConfig& s, const std::vector<int>& counts) {
  auto layout = s.parallel;
  layout.padding_layers = 0;
  layout.layers_per_virtual_stage = counts;
  const auto stages = model::assign_layers(*s.model, layout);
  const auto schedule = strategy::make_pipeline_schedule(s);
  double peak = 0.0;
  for (int st = 0; st < s.parallel.pp; ++st) {
    std::vector<int> in_flight;
    strategy::peak_in_flight(
        schedule->stage_order(st, s.parallel.pp, s.parallel.vpp, config::micro_batches_per_step(s)), s.parallel.vpp,
        &in_flight);
    peak = std::max(peak, model::stage_memory(s, stages, st, in_flight).breakdown.total());
  }
  return peak;
}

}  // namespace

TEST_CASE("stage_balance memory guard: no cut above both the device memory and the starting cut's peak") {
  auto roomy = dense(100000, 16);  // the head is ~4 layers of compute; stage 0 holds 4 micro-batches in flight
  roomy.topology.device.memory_bytes.value = 1e15;
  const auto free_cut = strategy::balance_stages(roomy).layers_per_position;
  auto tight = roomy;
  tight.topology.device.memory_bytes.value = 1.0;  // nothing fits: the starting cut's peak is the limit
  const auto guarded = strategy::balance_stages(tight);
  const double start_peak = peak_bytes(tight, guarded.start_layers_per_position);
  CHECK(peak_bytes(roomy, free_cut) > start_peak);  // unguarded, layers move to stages holding more in flight
  CHECK(peak_bytes(tight, guarded.layers_per_position) <= start_peak);
  CHECK(guarded.layers_per_position != free_cut);
  CHECK(guarded.estimate_s <= guarded.start_estimate_s);
}

TEST_CASE("stage_balance weighs each layer by its busiest EP rank: a hot layer's stage gets fewer layers") {
  // tiny MoE (layer 0 dense, 5 MoE layers, 16 experts) over PP2 x EP4; every MoE layer balanced but layer 1, whose
  // rows all go to expert 0 (EP rank 0 computes 4x the balanced rows). No memory strategy: the memory guard runs
  // with the skewed load (its copy of the load once dangled).
  auto model = test::tiny_moe_model();
  model.mtp_layers = 0;
  auto s = with_balance(test::training_scenario(model, test::layout(1, 2, 4, 1, 1, 4), 4096, 1, 32));
  const auto uniform = strategy::balance_stages(s);
  s.training->expert_load.distribution = config::ExpertLoadDistribution::Shares;
  const std::vector<double> even(16, 1.0);
  std::vector<double> hot(16, 0.0);
  hot[0] = 1.0;
  s.training->expert_load.shares = {hot, even, even, even, even};
  const auto skewed = strategy::balance_stages(s);
  INFO("uniform cut " << uniform.layers_per_position[0] << "/" << uniform.layers_per_position[1] << ", skewed "
                      << skewed.layers_per_position[0] << "/" << skewed.layers_per_position[1]);
  CHECK(skewed.layers_per_position[0] < uniform.layers_per_position[0]);
  CHECK(skewed.start_stage_time_s[0] > uniform.start_stage_time_s[0]);  // layer 1 on stage 0 costs more
  CHECK(skewed.estimate_s <= skewed.start_estimate_s);
}

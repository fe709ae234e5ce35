// Scenario loading: shipped scenarios resolve; overrides; layout checks against model and topology.
#include <catch2/catch.hpp>
#include <filesystem>

#include "config/scenario_config.hpp"

using namespace moesim::config;

namespace {

std::string repo(const std::string& relative) { return std::string(MOESIM_SOURCE_DIR) + "/" + relative; }

// Returns every issue message of a scenario that fails to load (empty when it loads).
std::vector<std::string> issues_of(const std::string& file, const std::vector<std::string>& overrides = {}) {
  try {
    load_scenario(repo(file), overrides);
  } catch (const ConfigError& error) {
    std::vector<std::string> messages;
    for (const auto& issue : error.issues()) messages.push_back(issue.to_string());
    return messages;
  }
  return {};
}

bool any_contains(const std::vector<std::string>& messages, const std::string& fragment) {
  for (const auto& message : messages) {
    if (message.find(fragment) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("every shipped scenario loads") {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(repo("scenarios"))) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path());
    CHECK(issues_of(std::filesystem::relative(entry.path(), MOESIM_SOURCE_DIR).string()).empty());
  }
}

TEST_CASE("the Ultra MoE training scenario resolves to the published layout") {
  const auto s = load_scenario(repo("scenarios/ultra_moe_718b_train_6144.json"));
  CHECK(s.ranks == 6144);
  CHECK(s.topology.nodes == 768);
  CHECK(s.parallel.tp == 8);
  CHECK(s.parallel.pp == 16);
  CHECK(s.parallel.vpp == 2);
  CHECK(s.parallel.dp == 48);
  CHECK(s.parallel.expert_parallel_size() == 32);
  CHECK(micro_batches_per_step(s) == 3072 / (48 * 2));
}

TEST_CASE("ranks trim the topology to the nodes they need") {
  const auto s = load_scenario(repo("scenarios/microbench_alltoall_64.json"));
  CHECK(s.ranks == 64);
  CHECK(s.topology.nodes == 8);
  CHECK(s.microbenchmark->ranks.size() == 64);
}

TEST_CASE("set overrides change values before validation") {
  const auto s = load_scenario(repo("scenarios/pro_moe_800i_a2_decode.json"),
                               {"inference.batch_size=8", "inference.phase=prefill", "parallel.ep=2"});
  CHECK(s.inference->batch_size == 8);
  CHECK(s.inference->phase == InferencePhase::Prefill);
  CHECK(s.parallel.ep == 2);
}

TEST_CASE("a set override on a bad path is an error naming the override") {
  const auto messages = issues_of("scenarios/pro_moe_800i_a2_decode.json", {"parallel.tp.deeper=1"});
  REQUIRE(messages.size() == 1);
  CHECK(any_contains(messages, "cannot descend into a non-object value"));
  CHECK(any_contains(issues_of("scenarios/pro_moe_800i_a2_decode.json", {"=3"}), "expected path=value"));
}

TEST_CASE("a new key added by an override is rejected as unknown") {
  const auto messages = issues_of("scenarios/pro_moe_800i_a2_decode.json", {"parallel.zp=2"});
  CHECK(any_contains(messages, "/parallel/zp: unknown key"));
}

TEST_CASE("layout problems are all reported together") {
  const auto messages = issues_of("scenarios/pro_moe_800i_a2_decode.json", {"parallel.tp=3", "parallel.ep=3"});
  CHECK(any_contains(messages, "/parallel/tp: tp 3 must divide the attention heads"));
  CHECK(any_contains(messages, "/parallel/ep: expert-parallel size 3 must divide the routed experts (64)"));
  CHECK(any_contains(messages, "/parallel: tp x pp x cp x dp = 3"));
}

TEST_CASE("training checks: micro-batches, sequence parallel, pipeline slots") {
  const std::string file = "scenarios/ultra_moe_718b_train_6144.json";
  CHECK(any_contains(issues_of(file, {"training.global_batch_size=100"}), "must be a multiple of dp x micro_batch_size"));
  CHECK(any_contains(issues_of(file, {"parallel.padding_layers=0"}), "must divide the pipeline slots: 61 layers + 1 MTP"));
  CHECK(issues_of(file, {"training.global_batch_size=1536"}).empty());
}

TEST_CASE("errors in a referenced file name that file") {
  const auto messages = issues_of("scenarios/pro_moe_800i_a2_decode.json", {"model=../models/missing.json"});
  REQUIRE(messages.size() == 1);
  CHECK(any_contains(messages, "models/missing.json: /: cannot open file"));
}

TEST_CASE("resolved_json reports the layout and workload") {
  const auto s = load_scenario(repo("scenarios/pro_moe_800i_a2_decode.json"));
  const auto j = resolved_json(s);
  CHECK(j["ranks"] == 4);
  CHECK(j["parallel"]["tp"] == 4);
  CHECK(j["inference"]["phase"] == "decode");
  CHECK(j["model"]["name"] == s.model->name);
}

TEST_CASE("training.expert_load: uniform by default, zipf and shares read, bad values reported with their path") {
  const std::string pro = "scenarios/calibration/pro_moe_72b_train_baseline.json";
  CHECK(load_scenario(repo(pro)).training->expert_load.distribution == ExpertLoadDistribution::Uniform);
  const auto zipf = load_scenario(repo(pro), {R"(training.expert_load={"distribution": "zipf", "exponent": 0.5})"});
  CHECK(zipf.training->expert_load.distribution == ExpertLoadDistribution::Zipf);
  CHECK(zipf.training->expert_load.exponent == 0.5);
  std::string row = "[";
  for (int e = 0; e < 64; ++e) row += (e ? ", " : "") + std::to_string(e % 4 + 1);
  row += "]";
  const auto shares =
      load_scenario(repo(pro), {"training.expert_load={\"distribution\": \"shares\", \"shares\": [" + row + "]}"});
  REQUIRE(shares.training->expert_load.shares.size() == 1);
  CHECK(shares.training->expert_load.shares[0].size() == 64);
  CHECK(any_contains(issues_of(pro, {R"(training.expert_load={"distribution": "zipf", "exponent": -1})"}),
                     "/training/expert_load/exponent: expected a number >= 0"));
  CHECK(any_contains(issues_of(pro, {R"(training.expert_load={"distribution": "skewed"})"}),
                     "/training/expert_load/distribution: expected one of"));
  CHECK(any_contains(issues_of(pro, {R"(training.expert_load={"distribution": "uniform", "exponent": 1})"}),
                     "/training/expert_load/exponent: unknown key"));
  CHECK(any_contains(issues_of(pro, {R"(training.expert_load={"distribution": "shares", "shares": [[1, 2]]})"}),
                     "/training/expert_load/shares/0: expected 64 shares (one per routed expert), got 2"));
  CHECK(any_contains(
      issues_of(pro, {"training.expert_load={\"distribution\": \"shares\", \"shares\": [" + row + ", " + row + "]}"}),
      "/training/expert_load/shares: expected 1 row (every MoE layer) or one per MoE layer (48), got 2"));
  CHECK(any_contains(issues_of(pro, {R"(training.expert_load={"distribution": "shares", "shares": [[1, -2]]})"}),
                     "/training/expert_load/shares/0/1: expected a number >= 0"));
  CHECK(any_contains(issues_of("scenarios/llama2_70b_train_64.json",
                               {R"(training.expert_load={"distribution": "zipf", "exponent": 1})"}),
                     "/training/expert_load: the model has no routed experts to load"));
}

TEST_CASE("inference.expert_load: read and echoed, no drift, none for a dense model") {
  const std::string decode = "scenarios/pro_moe_800i_a2_decode.json";
  const auto zipf = load_scenario(repo(decode), {R"(inference.expert_load={"distribution": "zipf", "exponent": 0.5})"});
  CHECK(zipf.inference->expert_load.distribution == ExpertLoadDistribution::Zipf);
  CHECK(resolved_json(zipf)["inference"]["expert_load"]["exponent"] == 0.5);
  CHECK(any_contains(issues_of(decode, {R"(inference.expert_load={"distribution": "uniform", "drift_sigma": 0.1})"}),
                     "/inference/expert_load/drift_sigma: the load drifts between training steps"));
  CHECK(any_contains(issues_of(decode, {R"(inference.expert_load={"distribution": "shares", "shares": [[1, 2]]})"}),
                     "/inference/expert_load/shares/0: expected 64 shares"));
}

TEST_CASE("training.expert_load.drift_sigma: read, echoed, a negative value reported with its path") {
  const std::string pro = "scenarios/calibration/pro_moe_72b_train_baseline.json";
  const auto drift =
      load_scenario(repo(pro), {R"(training.expert_load={"distribution": "uniform", "drift_sigma": 0.1})"});
  CHECK(drift.training->expert_load.drift_sigma == 0.1);
  CHECK(resolved_json(drift)["training"]["expert_load"]["drift_sigma"] == 0.1);
  CHECK(any_contains(issues_of(pro, {R"(training.expert_load={"distribution": "uniform", "drift_sigma": -0.1})"}),
                     "/training/expert_load/drift_sigma: expected a number >= 0"));
}

// `moesim run` with training.documents on a 64-NPU slice of the Ultra MoE layout (PP2, DP4, 8 micro-batches of 4K
// tokens, log-normal documents of mean 2048 tokens, sigma 1): document masking cuts the attention work, every replica
// is simulated, metrics.documents reports the spread, and sequence_balance evens the replicas and shortens the step.
// ~1 s per run.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

using nlohmann::json;

namespace {

json run_slice(const std::string& name, const std::vector<std::string>& sets) {
  std::vector<std::string> all = {"ranks=64", "parallel.pp=2", "parallel.dp=4", "training.global_batch_size=32"};
  all.insert(all.end(), sets.begin(), sets.end());
  return run_scenario("scenarios/ultra_moe_718b_train_6144.json", all, "docs_" + name)["metrics"];
}

const std::string kDocuments = R"(training.documents={"mean_tokens": 2048, "sigma": 1.0})";
const std::string kOverlap = R"({"name": "hierarchical_ep"}, {"name": "adaptive_pipe"})";

}  // namespace

TEST_CASE("documents: masked attention costs less, replicas differ, sequence_balance evens them") {
  const auto whole = run_slice("whole", {"strategies=[" + kOverlap + "]"});
  const auto docs = run_slice("docs", {kDocuments, "strategies=[" + kOverlap + "]"});
  const auto balanced =
      run_slice("balanced", {kDocuments, R"(strategies=[{"name": "sequence_balance"}, )" + kOverlap + "]"});
  CHECK(!whole.contains("documents"));
  CHECK(docs["simulated_dp"] == 4);
  const double mean = docs["documents"]["attention_work_mean"].get<double>();
  CHECK(mean > 0.3);
  CHECK(mean < 0.8);
  CHECK(docs["phase_time_s"]["attention"].get<double>() < whole["phase_time_s"]["attention"].get<double>());
  CHECK(docs["documents"]["replica_work_max_over_mean"].get<double>() > 1.2);  // measured 1.44
  CHECK(balanced["documents"]["replica_work_max_over_mean"].get<double>() < 1.01);
  CHECK(balanced["documents"]["attention_work_mean"].get<double>() == Approx(mean));
  // measured: 5.765 -> 5.565 s
  CHECK(balanced["step_time_s"].get<double>() < 0.98 * docs["step_time_s"].get<double>());
}

// Pro MoE baseline slice (TP1 CP8 PP6 VPP4, DP2: 96 NPUs) at 32K tokens, documents of mean 4096: under KV AllGather
// each CP rank's queries meet their own documents (the slowest shard sets the pace), under Ulysses every rank works on
// whole sequences. Measured: Ulysses 12.114 -> 9.853 s (-18.7 %), KV AllGather 12.130 -> 10.469 s (-13.7 %), shard
// max/mean 1.464.
TEST_CASE("documents under context parallelism: KV AllGather shards differ, Ulysses keeps whole sequences") {
  auto run = [](const std::string& name, const std::string& cp, bool documents) {
    std::vector<std::string> sets = {"ranks=96", "parallel.dp=2", "training.global_batch_size=24",
                                     "training.seq_len=32768", R"(strategies=[{"name": "alltoallv"})" + cp + "]"};
    if (documents) sets.push_back(R"(training.documents={"mean_tokens": 4096, "sigma": 1.0})");
    return run_scenario("scenarios/calibration/pro_moe_72b_train_baseline.json", sets, "docs_cp_" + name)["metrics"];
  };
  const auto kv = run("kv", "", false), kv_docs = run("kv_docs", "", true);
  const auto ulysses = run("ulysses", R"(, {"name": "ulysses"})", false);
  const auto ulysses_docs = run("ulysses_docs", R"(, {"name": "ulysses"})", true);
  CHECK(kv_docs["documents"]["cp_shards"] == 8);
  CHECK(kv_docs["documents"]["cp_shard_work_max_over_mean"].get<double>() > 1.3);
  CHECK(!ulysses_docs["documents"].contains("cp_shards"));
  CHECK(kv_docs["documents"]["attention_work_mean"] == ulysses_docs["documents"]["attention_work_mean"]);
  const double kv_gain = 1.0 - kv_docs["step_time_s"].get<double>() / kv["step_time_s"].get<double>();
  const double ulysses_gain = 1.0 - ulysses_docs["step_time_s"].get<double>() / ulysses["step_time_s"].get<double>();
  CHECK(kv_gain > 0.05);
  CHECK(ulysses_gain > kv_gain + 0.03);
}

// The same slice with each document cut on its own over the CP shards (training.documents.cp_split "document",
// Transformer Engine's THD format): every shard's queries carry the same work, so KV AllGather and Ring Attention
// keep masking's gain as Ulysses does.
TEST_CASE("documents cut per document over the CP shards: balanced shards, the sharded algorithms catch up") {
  auto run = [](const std::string& name, const std::string& cp, const std::string& split) {
    const std::vector<std::string> sets = {
        "ranks=96",
        "parallel.dp=2",
        "training.global_batch_size=24",
        "training.seq_len=32768",
        R"(strategies=[{"name": "alltoallv"})" + cp + "]",
        R"(training.documents={"mean_tokens": 4096, "sigma": 1.0, "cp_split": ")" + split + "\"}"};
    return run_scenario("scenarios/calibration/pro_moe_72b_train_baseline.json", sets, "docs_split_" + name)["metrics"];
  };
  const std::string ring = R"(, {"name": "ring_attention"})";
  const auto kv = run("kv_seq", "", "sequence"), kv_doc = run("kv_doc", "", "document");
  const auto ring_seq = run("ring_seq", ring, "sequence"), ring_doc = run("ring_doc", ring, "document");
  const auto ulysses = run("ulysses", R"(, {"name": "ulysses"})", "sequence");
  CHECK(kv["documents"]["cp_shard_work_max_over_mean"].get<double>() > 1.3);
  CHECK(kv_doc["documents"]["cp_shard_work_max_over_mean"].get<double>() == Approx(1.0).epsilon(1e-6));
  CHECK(kv_doc["documents"]["attention_work_mean"] == kv["documents"]["attention_work_mean"]);
  CHECK(kv_doc["step_time_s"].get<double>() < 0.97 * kv["step_time_s"].get<double>());
  CHECK(ring_doc["step_time_s"].get<double>() < 0.97 * ring_seq["step_time_s"].get<double>());
  // within a few percent of Ulysses, which never splits a sequence (the collectives differ)
  CHECK(kv_doc["step_time_s"].get<double>() == Approx(ulysses["step_time_s"].get<double>()).epsilon(0.05));
}

TEST_CASE("cp_split document needs context-parallel query shards") {
  const auto out = run_moesim({"check", "scenarios/ultra_moe_718b_train_6144.json", "--set",
                               R"(training.documents={"mean_tokens": 2048, "sigma": 1.0, "cp_split": "document"})"});
  CHECK(out.exit_code == 2);
  CHECK(out.err.find("/training/documents/cp_split: \"document\" cuts each document over the context-parallel") !=
        std::string::npos);
}

// Model loader: shipped models load with the published architecture; bad inputs give one clear, located error.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "config/config_error.hpp"
#include "config/model_config.hpp"

using moesim::config::AttentionKind;
using moesim::config::ConfigError;
using moesim::config::ConfigIssue;
using moesim::config::FfnActivation;
using moesim::config::load_model;
using moesim::config::RoutingKind;

namespace {

const std::string kRoot = MOESIM_SOURCE_DIR;

std::string bad(const std::string& name) {
  return kRoot + "/tests/bad_inputs/model/" + name + ".json";
}

// Loads a file that must fail; returns its issues (fails the test when it loads).
std::vector<ConfigIssue> issues_of(const std::string& path) {
  try {
    load_model(path);
  } catch (const ConfigError& error) {
    return error.issues();
  }
  FAIL("expected a ConfigError from " << path);
  return {};
}

// Writes `text` to a fresh file in the temp directory and returns its path.
std::string temp_model(const std::string& name, const nlohmann::json& document) {
  const auto path = std::filesystem::temp_directory_path() / ("moesim_test_model_" + name + ".json");
  std::ofstream(path) << document.dump(2);
  return path.string();
}

nlohmann::json tiny_dense() {
  return {{"name", "tiny"},
          {"source", "test"},
          {"hidden_size", 8},
          {"num_layers", 2},
          {"num_dense_layers", 2},
          {"dense_intermediate_size", 32},
          {"vocab_size", 10},
          {"tied_embeddings", true},
          {"ffn_activation", "gelu"},
          {"max_seq_len", 16},
          {"attention", {{"type", "mha"}, {"num_heads", 2}, {"head_dim", 4}}}};
}

}  // namespace

TEST_CASE("model config: every shipped model loads") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kRoot + "/models")) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    const auto model = load_model(entry.path().string());
    CHECK_FALSE(model.name.empty());
    CHECK_FALSE(model.source.empty());
    CHECK(model.num_layers > 0);
    ++count;
  }
  CHECK(count >= 4);
}

TEST_CASE("model config: Pangu Pro MoE fields match [P] Table 1") {
  const auto m = load_model(kRoot + "/models/pangu_pro_moe_72b.json");
  CHECK(m.hidden == 5120);
  CHECK(m.num_layers == 48);
  CHECK(m.num_dense_layers == 0);
  CHECK(m.vocab == 153376);
  CHECK_FALSE(m.tied_embeddings);
  CHECK(m.attention.kind == AttentionKind::GQA);
  CHECK(m.attention.num_heads == 40);
  CHECK(m.attention.num_kv_heads == 8);
  CHECK(m.attention.head_dim == 128);
  REQUIRE(m.moe);
  CHECK(m.moe->num_routed_experts == 64);
  CHECK(m.moe->num_shared_experts == 4);
  CHECK(m.moe->top_k == 8);
  CHECK(m.moe->expert_intermediate == 1344);
  CHECK(m.moe->routing == RoutingKind::MoGE);
  CHECK(m.moe->num_groups == 8);
  CHECK(m.moe->top_k_per_group == 1);
}

TEST_CASE("model config: Pangu Ultra MoE fields match its config.json") {
  const auto m = load_model(kRoot + "/models/pangu_ultra_moe_718b.json");
  CHECK(m.num_layers == 61);
  CHECK(m.num_dense_layers == 3);
  CHECK(m.dense_intermediate == 18432);
  CHECK(m.attention.kind == AttentionKind::MLA);
  CHECK(m.attention.q_lora_rank == 1536);
  CHECK(m.attention.kv_lora_rank == 512);
  CHECK(m.attention.qk_nope_head_dim == 128);
  CHECK(m.attention.qk_rope_head_dim == 64);
  CHECK(m.attention.v_head_dim == 128);
  REQUIRE(m.moe);
  CHECK(m.moe->routing == RoutingKind::TopK);
  CHECK(m.moe->num_groups == 1);
  CHECK(m.moe->top_k_per_group == 8);
  CHECK(m.mtp_layers == 1);
}

TEST_CASE("model config: optional keys take their documented defaults") {
  auto document = tiny_dense();  // no description, no mtp_layers, mha without num_kv_heads
  const auto m = load_model(temp_model("defaults", document));
  CHECK(m.description.empty());
  CHECK(m.mtp_layers == 0);
  CHECK(m.attention.num_kv_heads == 2);
  CHECK(m.activation == FfnActivation::GELU);
  CHECK_FALSE(m.moe);

  // MLA with q_lora_rank 0 (no query compression) is valid; so is an MoE without shared experts or their width.
  document["attention"] = {{"type", "mla"},         {"num_heads", 2},        {"q_lora_rank", 0}, {"kv_lora_rank", 4},
                           {"qk_nope_head_dim", 2}, {"qk_rope_head_dim", 2}, {"v_head_dim", 2}};
  document["num_dense_layers"] = 1;
  document["moe"] = {{"num_routed_experts", 4},
                     {"num_shared_experts", 0},
                     {"top_k", 2},
                     {"expert_intermediate_size", 4},
                     {"routing", {{"type", "topk"}}}};
  const auto mla = load_model(temp_model("mla_q0", document));
  CHECK(mla.attention.q_lora_rank == 0);
  REQUIRE(mla.moe);
  CHECK(mla.moe->shared_expert_intermediate == 0);
}

TEST_CASE("model config: unknown keys are reported with their pointer, top-level and nested") {
  auto top = issues_of(bad("unknown_key_top"));
  REQUIRE(top.size() == 1);
  CHECK(top[0].pointer == "/hidden_dim");
  CHECK_THAT(top[0].message, Catch::Contains("unknown key") && Catch::Contains("hidden_size"));
  CHECK(top[0].file == bad("unknown_key_top"));

  auto nested = issues_of(bad("unknown_key_routing"));
  REQUIRE(nested.size() == 1);
  CHECK(nested[0].pointer == "/moe/routing/capacity_factor");

  // A key valid for another attention type is unknown for this one.
  auto mla = issues_of(bad("mla_with_head_dim"));
  REQUIRE(mla.size() == 1);
  CHECK(mla[0].pointer == "/attention/head_dim");
}

TEST_CASE("model config: wrong types and out-of-range sizes name the expected value") {
  auto type = issues_of(bad("wrong_type_layers"));
  REQUIRE(type.size() == 1);
  CHECK(type[0].pointer == "/num_layers");
  CHECK(type[0].message == "expected an integer > 0, got a string");

  auto negative = issues_of(bad("negative_hidden"));
  REQUIRE(negative.size() == 1);
  CHECK(negative[0].pointer == "/hidden_size");
  CHECK(negative[0].message == "expected an integer > 0, got -64");

  auto zero = issues_of(bad("zero_vocab"));
  REQUIRE(zero.size() == 1);
  CHECK(zero[0].message == "expected an integer > 0, got 0");

  auto fraction = issues_of(bad("fractional_hidden"));
  REQUIRE(fraction.size() == 1);
  CHECK_THAT(fraction[0].message, Catch::Contains("got a number (64.5)"));

  auto huge = issues_of(bad("huge_layers"));
  REQUIRE(huge.size() == 1);
  CHECK_THAT(huge[0].message, Catch::Contains("<= 2147483647"));
}

TEST_CASE("model config: gqa heads must divide and moge groups must match top_k") {
  auto gqa = issues_of(bad("gqa_not_divisible"));
  REQUIRE(gqa.size() == 1);
  CHECK(gqa[0].pointer == "/attention/num_kv_heads");
  CHECK_THAT(gqa[0].message, Catch::Contains("num_heads (8) must be divisible by num_kv_heads (3)"));

  auto moge = issues_of(bad("moge_top_k_mismatch"));
  REQUIRE(moge.size() == 1);
  CHECK(moge[0].pointer == "/moe/top_k");
  CHECK_THAT(moge[0].message, Catch::Contains("num_groups * top_k_per_group (4 * 1 = 4), got 3"));

  auto groups = issues_of(bad("moge_groups_not_divisible"));
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].pointer == "/moe/routing/num_groups");
}

TEST_CASE("model config: several errors in one file are all reported together") {
  auto issues = issues_of(bad("multiple_errors"));
  std::set<std::string> pointers;
  for (const auto& issue : issues) pointers.insert(issue.pointer);
  CHECK(pointers ==
        std::set<std::string>{"/hidden_size", "/vocab_size", "/attention/num_kv_heads", "/moe/top_k", "/extra"});
  CHECK(issues.size() == 5);
}

TEST_CASE("model config: bad-input corpus gives the expected error fragment, one issue per file") {
  std::ifstream in(kRoot + "/tests/bad_inputs/model_cases.json");
  REQUIRE(in);
  const auto cases = nlohmann::json::parse(in);
  REQUIRE(cases.size() >= 12);
  std::set<std::string> covered;
  for (const auto& entry : cases) {
    const auto args = entry.at("args").get<std::vector<std::string>>();
    REQUIRE(args.size() == 2);
    CHECK(args[0] == "describe");
    const std::string expect = entry.at("expect");
    INFO(args[1] << " expects: " << expect);
    const auto issues = issues_of(kRoot + "/" + args[1]);
    REQUIRE_FALSE(issues.empty());
    std::string all;
    for (const auto& issue : issues) all += issue.to_string() + "\n";  // "file: /pointer: message", as printed
    CHECK_THAT(all, Catch::Contains(expect));
    const auto name = std::filesystem::path(args[1]).filename().string();
    if (name != "multiple_errors.json") CHECK(issues.size() == 1);
    covered.insert(name);
  }
  // Every file of the corpus has a case.
  for (const auto& entry : std::filesystem::directory_iterator(kRoot + "/tests/bad_inputs/model")) {
    INFO(entry.path().string());
    CHECK(covered.count(entry.path().filename().string()) == 1);
  }
}

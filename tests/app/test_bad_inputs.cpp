// Every file of the bad-input corpus gives exit 2 and its expected message, never a crash.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace {

void run_corpus(const std::string& cases_file) {
  const auto cases = nlohmann::json::parse(read_text_file(std::string(MOESIM_SOURCE_DIR) + "/" + cases_file));
  REQUIRE(cases.is_array());
  REQUIRE(cases.size() >= 8);
  for (const auto& entry : cases) {
    const auto args = entry.at("args").get<std::vector<std::string>>();
    const auto expect = entry.at("expect").get<std::string>();
    const auto result = run_moesim(args);
    INFO("moesim " << nlohmann::json(args).dump() << "\nstderr:\n" << result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find(expect) != std::string::npos);
    CHECK(result.err.find("internal error") == std::string::npos);
    CHECK(result.out.empty());
  }
}

}  // namespace

TEST_CASE("bad scenario files: exit 2 with their message") { run_corpus("tests/bad_inputs/scenario_cases.json"); }

TEST_CASE("bad model files: exit 2 with their message") { run_corpus("tests/bad_inputs/model_cases.json"); }

TEST_CASE("bad topology files: exit 2 with their message") { run_corpus("tests/bad_inputs/topology_cases.json"); }

TEST_CASE("the bad-input corpus holds at least 25 files") {
  std::size_t files = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(MOESIM_SOURCE_DIR) + "/tests/bad_inputs")) {
    if (entry.is_regular_file() && entry.path().filename().string().find("_cases") == std::string::npos) ++files;
  }
  CHECK(files >= 25);
}

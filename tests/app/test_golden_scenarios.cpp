// Golden scenario tests: every file in tests/golden/ names a scenario (plus optional --set overrides) and holds the
// predictions of the last accepted run. The test re-runs each scenario and checks, with `moesim compare`, that
// every metric stays within the file's tolerance_rel. A deliberate modelling change regenerates them with
// `scripts/update_goldens.sh` (MOESIM_UPDATE_GOLDENS=1), and the diff of tests/golden/ shows what moved.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> golden_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(MOESIM_SOURCE_DIR) / "tests" / "golden")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Runs the golden's scenario; returns its --out folder.
std::string run_golden(const json& golden, const std::string& name) {
  const auto dir = (fs::temp_directory_path() / ("moesim_golden_" + name + "_" + std::to_string(getpid()))).string();
  std::vector<std::string> args{"run", golden.at("scenario").get<std::string>(), "--out", dir, "--quiet"};
  for (const auto& set : golden.value("set", json::array())) {
    args.push_back("--set");
    args.push_back(set.get<std::string>());
  }
  const auto result = run_moesim(args);
  INFO(name << ": " << result.err);
  REQUIRE(result.exit_code == 0);
  return dir;
}

}  // namespace

TEST_CASE("golden scenarios: every prediction within its tolerance of the accepted run") {
  const bool update = std::getenv("MOESIM_UPDATE_GOLDENS") != nullptr;
  const auto files = golden_files();
  REQUIRE(files.size() >= 10);
  for (const auto& file : files) {
    const auto name = file.stem().string();
    json golden = json::parse(read_text_file(file.string()));
    const auto dir = run_golden(golden, name);
    if (update) {
      const auto summary = json::parse(read_text_file(dir + "/summary.json"));
      golden["metrics"] = summary.at("metrics");
      golden["simulated_time_s"] = summary.at("simulated_time_s");
      std::ofstream(file) << golden.dump(2) << '\n';
    } else {
      const auto tolerance = golden.at("tolerance_rel").get<double>();
      const auto result = run_moesim({"compare", file.string(), dir, "--tolerance-rel", std::to_string(tolerance),
                                      "--only-beyond"});
      INFO(name << " (" << golden["scenario"].get<std::string>() << "): a deliberate change regenerates the goldens "
                << "with scripts/update_goldens.sh\n"
                << result.out << result.err);
      CHECK(result.exit_code == 0);
    }
    fs::remove_all(dir);
  }
}

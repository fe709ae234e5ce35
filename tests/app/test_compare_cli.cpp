// `moesim compare`: exit 0 within tolerance, 3 beyond it, 2 on bad input; accepts a --out folder or a file.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "cli_runner.hpp"

namespace fs = std::filesystem;

namespace {

std::string write_summary(const fs::path& dir, const std::string& name, const std::string& text) {
  fs::create_directories(dir / name);
  std::ofstream(dir / name / "summary.json") << text;
  return (dir / name).string();
}

}  // namespace

TEST_CASE("moesim compare: exit codes and messages") {
  const auto dir = fs::temp_directory_path() / ("moesim_test_compare_" + std::to_string(getpid()));
  const auto base = write_summary(dir, "base", R"({"metrics": {"step_time_s": 1.0, "mfu": 0.3}})");
  const auto near = write_summary(dir, "near", R"({"metrics": {"step_time_s": 1.004, "mfu": 0.3}})");
  const auto bad = write_summary(dir, "bad", R"({"metrics": [1, 2)");

  const auto same = run_moesim({"compare", base, base + "/summary.json"});
  CHECK(same.exit_code == 0);
  CHECK(same.out.find("2 metric(s) compared, 0 changed, 0 beyond") != std::string::npos);

  const auto beyond = run_moesim({"compare", base, near});
  CHECK(beyond.exit_code == 3);
  CHECK(beyond.out.find("step_time_s") != std::string::npos);
  CHECK(beyond.out.find("+0.400%  NO") != std::string::npos);

  CHECK(run_moesim({"compare", base, near, "--tolerance-rel", "0.01"}).exit_code == 0);
  CHECK(run_moesim({"compare", base, near, "--metric", "mfu"}).exit_code == 0);

  const auto broken = run_moesim({"compare", base, bad});
  CHECK(broken.exit_code == 2);
  CHECK(broken.err.find("bad/summary.json: not valid JSON") != std::string::npos);
  const auto missing = run_moesim({"compare", base, (dir / "none").string()});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("cannot read") != std::string::npos);
  CHECK(run_moesim({"compare", base, near, "--tolerance-rel", "-1"}).exit_code == 2);
  fs::remove_all(dir);
}

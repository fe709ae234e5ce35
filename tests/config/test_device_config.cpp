// Device files (topologies/devices/*.json): one set of chip factors shared by every topology of that chip, the
// "device_file" reference resolved against the topology file, and clear errors for a missing or bad device file.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "config/device_config.hpp"
#include "config/topology_config.hpp"
#include "config/topology_summary.hpp"
#include "topology_test_helpers.hpp"

namespace fs = std::filesystem;
using namespace moesim::config;
using moesim::test::read_json;
using moesim::test::repo_path;
using moesim::test::topology_load_issues;

namespace {

// A fresh folder under the temp directory for one test's files.
fs::path temp_folder(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "moesim_device_tests" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const nlohmann::json& document) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << document.dump(2);
}

void check_same_sourced(const SourcedValue& a, const SourcedValue& b) {
  CHECK(a.value == b.value);
  CHECK(a.source == b.source);
  CHECK(a.estimate == b.estimate);
}

}  // namespace

TEST_CASE("device files: every shipped device file loads on its own") {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(repo_path("topologies/devices"))) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    const DeviceSpec device = load_device(entry.path().string());
    names.insert(device.name);
    CHECK(device.peak(Dtype::BF16) > 0);
    for (OpClass op_class : kAllOpClasses) CHECK(device.has_efficiency(op_class));
  }
  CHECK(names == std::set<std::string>{"Ascend 910B2", "Ascend 910C", "Atlas 300I Duo (2 x Ascend 310P)"});
}

TEST_CASE("device files: every shipped topology takes its device from a device file") {
  for (const auto& entry : fs::directory_iterator(repo_path("topologies"))) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    const auto file = read_json(entry.path().string());
    CHECK_FALSE(file.contains("device"));
    REQUIRE(file.contains("device_file"));
    const TopologyConfig topology = load_topology(entry.path().string());
    CHECK(topology.device_file ==
          (entry.path().parent_path() / file["device_file"].get<std::string>()).lexically_normal().string());
  }
}

TEST_CASE("device files: the three 910B2 topologies share one factor set, the calibrated one") {
  const auto inference = load_topology(repo_path("topologies/atlas_800i_a2.json"));
  for (const char* name : {"atlas_800t_a2", "atlas_800t_a2_cluster"}) {
    INFO(name);
    const auto training = load_topology(repo_path(std::string("topologies/") + name + ".json"));
    CHECK(training.device_file == inference.device_file);
    CHECK(training.device.name == inference.device.name);
    CHECK(training.device.peak_flops.size() == inference.device.peak_flops.size());
    check_same_sourced(training.device.memory_bandwidth_bytes_per_s, inference.device.memory_bandwidth_bytes_per_s);
    check_same_sourced(training.device.launch_overhead_s, inference.device.launch_overhead_s);
    for (std::size_t i = 0; i < training.device.efficiency.size(); ++i) {
      check_same_sourced(training.device.efficiency[i].compute, inference.device.efficiency[i].compute);
      check_same_sourced(training.device.efficiency[i].memory, inference.device.efficiency[i].memory);
      CHECK(training.device.efficiency[i].compute_int8.has_value() ==
            inference.device.efficiency[i].compute_int8.has_value());
    }
  }
  // The values calibrated on the 800I A2 (docs/validation.md) now hold for the training files too.
  const auto training = load_topology(repo_path("topologies/atlas_800t_a2_cluster.json"));
  const auto& eff = training.device.efficiency;
  CHECK(eff[static_cast<int>(OpClass::Matmul)].memory.value == Approx(0.49));
  CHECK(eff[static_cast<int>(OpClass::GroupedMatmul)].memory.value == Approx(0.49));
  CHECK(eff[static_cast<int>(OpClass::Attention)].memory.value == Approx(0.49));
  CHECK(eff[static_cast<int>(OpClass::Matmul)].compute.value == Approx(0.44));  // bf16 GEMMs: the T1 fit, not the INT8 one
  CHECK(eff[static_cast<int>(OpClass::Matmul)].compute_for(Dtype::INT8).value == Approx(0.285));
  CHECK(eff[static_cast<int>(OpClass::Matmul)].compute_for(Dtype::BF16).value == Approx(0.44));
  CHECK(training.device.has_efficiency(OpClass::FusedAttention));
  CHECK(training.device.has_efficiency(OpClass::FusedGroupedMatmul));
  // host_runtime is system-level: the 800I A2 serving host has one, the training files do not.
  CHECK(inference.host_runtime.has_value());
  CHECK_FALSE(training.host_runtime.has_value());
}

TEST_CASE("device files: a relative device_file is resolved against the topology file, an absolute one as is") {
  const fs::path dir = temp_folder("resolve");
  auto device = read_json(repo_path("topologies/devices/ascend_910b2.json"));
  device["name"] = "relocated 910B2";
  write(dir / "chips" / "npu.json", device);
  auto topology = read_json(repo_path("topologies/atlas_800t_a2.json"));
  topology["device_file"] = "chips/npu.json";
  write(dir / "topo.json", topology);
  const auto relative = load_topology((dir / "topo.json").string());
  CHECK(relative.device.name == "relocated 910B2");
  CHECK(relative.device_file == (dir / "chips" / "npu.json").string());

  topology["device_file"] = repo_path("topologies/devices/ascend_910c.json");
  write(dir / "absolute.json", topology);
  const auto absolute = load_topology((dir / "absolute.json").string());
  CHECK(absolute.device.name == "Ascend 910C");
  CHECK(absolute.device.ranks_per_device == 2);
  CHECK(absolute.total_ranks() == 16);  // 1 node x 8 devices x 2 dies: the device file's count is used
}

TEST_CASE("device files: the inline device block still works and describe-topology says where the device is from") {
  auto document = read_json(repo_path("tests/bad_inputs/topology/unknown_key.json"));
  document.erase("devices_per_nodes");
  const fs::path dir = temp_folder("inline");
  write(dir / "inline.json", document);
  const auto topology = load_topology((dir / "inline.json").string());
  CHECK(topology.device.name == "test NPU");
  CHECK(topology.device_file.empty());
  CHECK(topology_summary_json(topology)["device_file"].is_null());
  CHECK_THAT(topology_summary_text(topology), Catch::Contains("numbers per rank, inline"));

  const auto shipped = load_topology(repo_path("topologies/atlas_300i_duo.json"));
  CHECK(topology_summary_json(shipped)["device_file"] == shipped.device_file);
  CHECK_THAT(topology_summary_text(shipped), Catch::Contains("from " + shipped.device_file));
}

TEST_CASE("device files: a missing device file is one error at /device_file of the topology") {
  const std::string path = repo_path("tests/bad_inputs/topology/device_file_missing.json");
  const auto issues = topology_load_issues(path);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].file == path);
  CHECK(issues[0].pointer == "/device_file");
  CHECK_THAT(issues[0].message, Catch::Contains("cannot open device file") &&
                                    Catch::Contains("tests/bad_inputs/topology/devices/no_such_device.json"));
}

TEST_CASE("device files: issues inside a device file name that file and a pointer into it") {
  const auto bad_value = topology_load_issues(repo_path("tests/bad_inputs/topology/device_file_bad_value.json"));
  REQUIRE(bad_value.size() == 1);
  CHECK(bad_value[0].file == repo_path("tests/bad_inputs/topology/devices/efficiency_above_one_device.json"));
  CHECK(bad_value[0].pointer == "/efficiency/attention/memory/value");
  CHECK(bad_value[0].message == "expected a number in (0, 1], got 1.5");

  const auto unknown = topology_load_issues(repo_path("tests/bad_inputs/topology/device_file_unknown_key.json"));
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0].file == repo_path("tests/bad_inputs/topology/devices/unknown_key_device.json"));
  CHECK(unknown[0].pointer == "/colour");

  // Loading the device file alone reports the same issue.
  try {
    load_device(repo_path("tests/bad_inputs/topology/devices/efficiency_above_one_device.json"));
    FAIL("loaded without error");
  } catch (const ConfigError& error) {
    REQUIRE(error.issues().size() == 1);
    CHECK(error.issues()[0].pointer == "/efficiency/attention/memory/value");
  }
  CHECK(load_device(repo_path("tests/bad_inputs/topology/devices/valid_device.json")).name == "test NPU");
}

TEST_CASE("device files: exactly one of device and device_file") {
  const auto both = topology_load_issues(repo_path("tests/bad_inputs/topology/device_and_device_file.json"));
  REQUIRE(both.size() == 1);
  CHECK(both[0].pointer == "/device_file");
  CHECK_THAT(both[0].message, Catch::Contains("not both"));
  const auto neither = topology_load_issues(repo_path("tests/bad_inputs/topology/no_device.json"));
  REQUIRE(neither.size() == 1);
  CHECK(neither[0].pointer == "/device_file");
  CHECK_THAT(neither[0].message, Catch::Contains("missing required key"));
  const auto number = topology_load_issues(repo_path("tests/bad_inputs/topology/device_file_not_string.json"));
  REQUIRE(number.size() == 1);
  CHECK(number[0].pointer == "/device_file");
  CHECK_THAT(number[0].message, Catch::Contains("expected a string"));
}

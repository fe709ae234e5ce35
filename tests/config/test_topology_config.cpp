// Topology loader: shipped files, routing rule, unit conversion, strict errors, the bad-input corpus, the summary.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "config/topology_config.hpp"
#include "config/topology_summary.hpp"
#include "topology_test_helpers.hpp"

namespace fs = std::filesystem;
using namespace moesim::config;
using moesim::test::read_json;
using moesim::test::repo_path;
using moesim::test::topology_load_issues;

namespace {

TopologyConfig shipped(const std::string& name) {
  return load_topology(repo_path("topologies/" + name + ".json"));
}

bool has_issue(const std::vector<ConfigIssue>& issues, const std::string& pointer, const std::string& fragment) {
  for (const auto& issue : issues) {
    if (issue.pointer == pointer && issue.message.find(fragment) != std::string::npos) return true;
  }
  return false;
}

// Writes `document` to a fresh file under the build's temp folder and returns its path.
std::string write_temp(const std::string& name, const nlohmann::json& document) {
  const fs::path dir = fs::temp_directory_path() / "moesim_topology_tests";
  fs::create_directories(dir);
  const fs::path path = dir / name;
  std::ofstream(path) << document.dump(2);
  return path.string();
}

}  // namespace

TEST_CASE("topology: every shipped topology loads with sourced numbers in range") {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(repo_path("topologies"))) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    const TopologyConfig topology = load_topology(entry.path().string());
    ++count;
    CHECK_FALSE(topology.name.empty());
    CHECK(topology.total_ranks() > 0);
    CHECK(topology.device.peak(Dtype::BF16) > 0);
    CHECK(topology.device.peak(Dtype::FP16) > 0);
    CHECK(topology.device.memory_bytes.value > 0);
    CHECK_FALSE(topology.device.memory_bytes.source.empty());
    for (OpClass op_class : kAllOpClasses) CHECK(topology.device.has_efficiency(op_class));
    for (const auto& efficiency : topology.device.efficiency) {
      if (efficiency.compute.value == 0 && efficiency.memory.value == 0) continue;  // optional class, absent
      CHECK(efficiency.compute.value > 0);
      CHECK(efficiency.compute.value <= 1);
      CHECK(efficiency.memory.value > 0);
      CHECK(efficiency.memory.value <= 1);
      CHECK_FALSE(efficiency.compute.source.empty());
      CHECK_FALSE(efficiency.memory.source.empty());
      if (efficiency.compute_int8) {
        CHECK(efficiency.compute_int8->value > 0);
        CHECK(efficiency.compute_int8->value <= 1);
        CHECK_FALSE(efficiency.compute_int8->source.empty());
      }
    }
    if (topology.host_runtime) {
      CHECK(topology.host_runtime->op_dispatch_s.value >= 0);
      CHECK_FALSE(topology.host_runtime->op_dispatch_s.source.empty());
      CHECK_FALSE(topology.host_runtime->collective_dispatch_s.source.empty());
      CHECK_FALSE(topology.host_runtime->step_overhead_s.source.empty());
    }
    REQUIRE_FALSE(topology.fabrics.empty());
    if (topology.ranks_per_node() > 1) CHECK(topology.fabric_between(0, 1) != nullptr);
    if (topology.nodes > 1) CHECK(topology.fabric_between(0, topology.total_ranks() - 1) != nullptr);
  }
  CHECK(count >= 5);
}

TEST_CASE("topology: rank counts of the shipped clusters") {
  CHECK(shipped("atlas_800t_a2_cluster").total_ranks() == 6144);
  CHECK(shipped("atlas_800t_a2_cluster").nodes == 768);
  CHECK(shipped("atlas_800t_a2").total_ranks() == 8);
  CHECK(shipped("atlas_800i_a2").total_ranks() == 8);
  const auto cm384 = shipped("cloudmatrix384");
  CHECK(cm384.total_ranks() == 768);
  CHECK(cm384.ranks_per_node() == 16);
  CHECK(cm384.device.ranks_per_device == 2);
  const auto duo = shipped("atlas_300i_duo");
  CHECK(duo.total_ranks() == 8);
  CHECK(duo.devices_per_node == 4);
}

TEST_CASE("topology: JSON units are stored in SI") {
  const auto topology = shipped("atlas_800t_a2");
  CHECK(topology.device.peak(Dtype::BF16) == Approx(353.9e12));
  CHECK(topology.device.peak(Dtype::INT8) == Approx(707.8e12));
  CHECK(topology.device.peak_flops.at(Dtype::INT8).estimate);
  CHECK(topology.device.memory_bytes.value == Approx(64.0 * 1024 * 1024 * 1024));
  CHECK(topology.device.memory_bandwidth_bytes_per_s.value == Approx(1.6e12));
  CHECK(topology.device.launch_overhead_s.value == Approx(3e-6));
  const FabricSpec* hccs = topology.fabric_named("hccs");
  REQUIRE(hccs != nullptr);
  CHECK(hccs->kind == FabricKind::FullMesh);
  CHECK(hccs->link_bandwidth_bytes_per_s.value == Approx(56e9));
  CHECK(hccs->latency_s.value == Approx(1.2e-6));
  const FabricSpec* roce = topology.fabric_named("roce");
  REQUIRE(roce != nullptr);
  CHECK(roce->kind == FabricKind::Clos);
  CHECK(roce->link_bandwidth_bytes_per_s.value == Approx(25e9));
  CHECK(roce->nodes_per_leaf == 8);
  CHECK(roce->nodes_per_leaf_sourced.estimate);
  CHECK(roce->oversubscription == Approx(1.0));
  CHECK(roce->spine_latency_s.value == Approx(1e-6));
}

TEST_CASE("topology: fabric_between picks HCCS inside a node and RoCE across nodes") {
  const auto cluster = shipped("atlas_800t_a2_cluster");
  REQUIRE(cluster.fabric_between(0, 7) != nullptr);
  CHECK(cluster.fabric_between(0, 7)->name == "hccs");
  CHECK(cluster.fabric_between(8, 15)->name == "hccs");
  CHECK(cluster.fabric_between(6136, 6143)->name == "hccs");
  CHECK(cluster.fabric_between(0, 8)->name == "roce");
  CHECK(cluster.fabric_between(7, 8)->name == "roce");
  CHECK(cluster.fabric_between(6143, 0)->name == "roce");
  CHECK(cluster.fabric_between(-1, 0) == nullptr);
  CHECK(cluster.fabric_between(0, 6144) == nullptr);
  CHECK(cluster.fabric_named("nvlink") == nullptr);
}

TEST_CASE("topology: fabric_between finds no route across nodes without a cluster fabric") {
  TopologyConfig topology;
  topology.nodes = 2;
  topology.devices_per_node = 4;
  FabricSpec mesh;
  mesh.name = "mesh";
  topology.fabrics.push_back(mesh);
  CHECK(topology.fabric_between(0, 3) == &topology.fabrics[0]);
  CHECK(topology.fabric_between(3, 4) == nullptr);
  FabricSpec network;
  network.name = "net";
  network.scope = FabricScope::Cluster;
  topology.fabrics.push_back(network);
  CHECK(topology.fabric_between(3, 4)->name == "net");
  CHECK(topology.fabric_between(0, 3)->name == "mesh");  // the first listed qualifying fabric wins
}

TEST_CASE("topology: CloudMatrix384 routes every pair over UB and reaches RDMA by name") {
  const auto cm384 = shipped("cloudmatrix384");
  CHECK(cm384.fabric_between(0, 1)->name == "ub");    // two dies of one 910C
  CHECK(cm384.fabric_between(0, 767)->name == "ub");  // different nodes
  CHECK(cm384.fabric_between(0, 1)->kind == FabricKind::Switch);
  CHECK(cm384.fabric_between(0, 1)->link_bandwidth_bytes_per_s.value == Approx(196e9));
  const FabricSpec* rdma = cm384.fabric_named("rdma");
  REQUIRE(rdma != nullptr);
  CHECK(rdma->kind == FabricKind::Clos);
  CHECK(rdma->scope == FabricScope::Cluster);
  CHECK(rdma->link_bandwidth_bytes_per_s.value == Approx(25e9));
  // Only bf16 is published for the 910C: fp16 falls back to it, fp32 is absent.
  CHECK(cm384.device.peak(Dtype::FP16) == Approx(376e12));
  CHECK(cm384.device.has_peak(Dtype::FP16));
  CHECK_FALSE(cm384.device.has_peak(Dtype::FP32));
  CHECK_THROWS_WITH(cm384.device.peak(Dtype::FP32), Catch::Contains("no fp32 peak"));
}

TEST_CASE("topology: Atlas 300I Duo is a PCIe tree of two CPU domains") {
  const auto duo = shipped("atlas_300i_duo");
  REQUIRE(duo.fabrics.size() == 1);
  const FabricSpec& pcie = duo.fabrics[0];
  CHECK(pcie.kind == FabricKind::PcieTree);
  CHECK(pcie.scope == FabricScope::Node);
  CHECK(pcie.domains == 2);
  CHECK(duo.ranks_per_node() / pcie.domains == 4);  // [P] 4.2.1: four chips per CPU
  CHECK(pcie.inter_domain_bandwidth_bytes_per_s.value > 0);
  CHECK(pcie.inter_domain_bandwidth_bytes_per_s.estimate);
  CHECK(duo.fabric_between(0, 7) == &pcie);
  CHECK(duo.device.peak(Dtype::INT8) == Approx(140e12));
  CHECK(duo.device.peak(Dtype::BF16) == Approx(70e12));  // falls back to fp16
  CHECK(duo.device.memory_bandwidth_bytes_per_s.value == Approx(204e9));
}

TEST_CASE("topology: raising nodes without a cluster fabric is a disconnected NPU") {
  auto document = read_json(repo_path("topologies/atlas_300i_duo.json"));
  document["nodes"] = 2;
  document["device_file"] = repo_path("topologies/devices/ascend_310p.json");  // the copy sits in a temp folder
  const auto issues = topology_load_issues(write_temp("duo_two_nodes.json", document));
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].pointer == "/fabrics");
  CHECK_THAT(issues[0].message, Catch::Contains("disconnected NPU") && Catch::Contains("2 nodes"));
  // The 800T A2 node carries a RoCE fabric, so it scales out.
  auto node = read_json(repo_path("topologies/atlas_800t_a2.json"));
  node["nodes"] = 4;
  node["device_file"] = repo_path("topologies/devices/ascend_910b2.json");
  CHECK(load_topology(write_temp("800t_four_nodes.json", node)).total_ranks() == 32);
}

TEST_CASE("topology: strict errors name the file, the pointer and what was expected") {
  const std::string path = repo_path("tests/bad_inputs/topology/efficiency_above_one.json");
  const auto issues = topology_load_issues(path);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].file == path);
  CHECK(issues[0].pointer == "/device/efficiency/matmul/compute/value");
  CHECK(issues[0].message == "expected a number in (0, 1], got 1.2");

  const auto unknown = topology_load_issues(repo_path("tests/bad_inputs/topology/unknown_key.json"));
  CHECK(has_issue(unknown, "/devices_per_nodes", "unknown key (known keys here:"));
  CHECK(has_issue(topology_load_issues(repo_path("tests/bad_inputs/topology/no_source.json")), "/device/memory_gib/source",
                  "missing required key"));
  CHECK(has_issue(topology_load_issues(repo_path("tests/bad_inputs/topology/pcie_domains_not_dividing.json")),
                  "/fabrics/0/domains", "expected a divisor of ranks_per_node (4"));
  CHECK(has_issue(topology_load_issues(repo_path("tests/bad_inputs/topology/disconnected_nodes.json")), "/fabrics",
                  "disconnected NPU"));
  CHECK(has_issue(topology_load_issues(repo_path("tests/bad_inputs/topology/unknown_op_class.json")), "/device/efficiency/conv",
                  "unknown key"));
}

TEST_CASE("topology: several errors in one file are reported together") {
  const auto issues = topology_load_issues(repo_path("tests/bad_inputs/topology/several_errors.json"));
  std::set<std::string> pointers;
  for (const auto& issue : issues) pointers.insert(issue.pointer);
  CHECK(pointers.size() == 4);  // distinct places (json_reader may report a missing source twice)
  CHECK(has_issue(issues, "/device/memory_gib/source", "missing required key"));
  CHECK(has_issue(issues, "/device/efficiency/attention/memory/value", "expected a number in (0, 1], got 1.5"));
  CHECK(has_issue(issues, "/fabrics", "disconnected NPU: 2 nodes"));
  CHECK(has_issue(issues, "/colour", "unknown key"));
}

TEST_CASE("topology: every case of the bad-input corpus fails with its expected message") {
  const auto cases = read_json(repo_path("tests/bad_inputs/topology_cases.json"));
  REQUIRE(cases.is_array());
  CHECK(cases.size() >= 10);
  for (const auto& entry : cases) {
    const auto args = entry.at("args");
    const std::string expect = entry.at("expect");
    REQUIRE(args.size() == 2);
    CHECK(args[0] == "describe-topology");
    const std::string relative = args[1];
    INFO(relative << " should fail with: " << expect);
    try {
      load_topology(repo_path(relative));
      FAIL("loaded without error");
    } catch (const ConfigError& error) {
      CHECK_THAT(error.what(), Catch::Contains(expect));
    }
  }
}

TEST_CASE("topology: the bad-input base is itself valid") {
  // Each bad file breaks this one document in one way; make sure the base is not broken already.
  auto document = read_json(repo_path("tests/bad_inputs/topology/unknown_key.json"));
  document.erase("devices_per_nodes");
  const auto topology = load_topology(write_temp("bad_input_base.json", document));
  CHECK(topology.total_ranks() == 8);
  CHECK(topology.fabric_between(0, 4)->name == "roce");
}

TEST_CASE("topology: summary JSON gives the file's numbers back with sources") {
  for (const auto& entry : fs::directory_iterator(repo_path("topologies"))) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    const auto file = read_json(entry.path().string());
    const auto device = file.contains("device_file")
                            ? read_json((entry.path().parent_path() / file["device_file"].get<std::string>()).string())
                            : file["device"];
    const auto summary = topology_summary_json(load_topology(entry.path().string()));
    for (const char* key :
         {"memory_gib", "memory_bandwidth_gb_per_s", "launch_overhead_us", "host_link_bandwidth_gb_per_s"}) {
      CHECK(summary["device"][key]["value"].get<double>() == Approx(device[key]["value"].get<double>()));
      CHECK(summary["device"][key].value("estimate", false) == device[key].value("estimate", false));
    }
    for (const auto& [dtype, peak] : device["peak_tflops"].items()) {
      CHECK(summary["device"]["peak_tflops"][dtype]["value"].get<double>() == Approx(peak["value"].get<double>()));
    }
    REQUIRE(summary["fabrics"].size() == file["fabrics"].size());
    for (std::size_t i = 0; i < file["fabrics"].size(); ++i) {
      for (const char* key : {"link_bandwidth_gb_per_s", "latency_us"}) {
        CHECK(summary["fabrics"][i][key]["value"].get<double>() ==
              Approx(file["fabrics"][i][key]["value"].get<double>()));
      }
    }
    CHECK(summary["total_ranks"].get<int>() == file["nodes"].get<int>() * summary["ranks_per_node"].get<int>());
  }
}

TEST_CASE("topology: summary names the routes and prints sources") {
  const auto cluster = shipped("atlas_800t_a2_cluster");
  const auto summary = topology_summary_json(cluster);
  CHECK(summary["routing"]["intra_node"] == "hccs");
  CHECK(summary["routing"]["inter_node"] == "roce");
  CHECK(summary["device"]["efficiency"]["matmul"]["compute"]["estimate"] == true);
  CHECK(summary["fabrics"][1]["nodes_per_leaf"]["value"] == 8);
  const std::string text = topology_summary_text(cluster);
  CHECK_THAT(text, Catch::Contains("6144 = 768 nodes x 8 devices x 1 rank per device"));
  CHECK_THAT(text, Catch::Contains("353.9 TFLOPS") && Catch::Contains("Ascend910B2.ini"));
  CHECK_THAT(text, Catch::Contains("routing: intra-node hccs, inter-node roce"));
  CHECK_THAT(text, Catch::Contains("grouped_matmul memory"));

  const auto duo = topology_summary_json(shipped("atlas_300i_duo"));
  CHECK(duo["routing"]["inter_node"].is_null());
  CHECK(duo["fabrics"][0]["domains"] == 2);
  CHECK_THAT(topology_summary_text(shipped("atlas_300i_duo")), Catch::Contains("inter-node none"));
}

TEST_CASE("topology: the minimal example of docs/schema-topology.md loads") {
  std::ifstream in(repo_path("docs/schema-topology.md"));
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto section = doc.find("## Minimal example");
  REQUIRE(section != std::string::npos);
  const auto begin = doc.find("```json", section);
  const auto end = doc.find("```", begin + 7);
  REQUIRE(end != std::string::npos);
  const auto document = nlohmann::json::parse(doc.substr(begin + 7, end - begin - 7));
  const auto topology = load_topology(write_temp("schema_example.json", document));
  CHECK(topology.total_ranks() == 8);
  CHECK(topology.fabric_between(0, 3)->name == "nvlink");
  CHECK(topology.fabric_between(3, 4)->name == "ib");
}

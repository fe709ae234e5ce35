// Strict loader for topologies/*.json (schema: docs/schema-topology.md) and the routing rule between ranks.
#include "config/topology_config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "config/units.hpp"

namespace moesim::config {

using nlohmann::json;

namespace {

using namespace units;  // kGigabyte, kMicrosecond, kMillisecond

const std::vector<std::string> kKindNames = {"full_mesh", "switch", "pcie_tree", "clos"};
const std::vector<std::string> kScopeNames = {"node", "cluster"};
const std::vector<std::string> kPcieKeys = {"domains", "inter_domain_bandwidth_gb_per_s", "inter_domain_latency_us"};
const std::vector<std::string> kClosKeys = {"nodes_per_leaf", "oversubscription", "spine_latency_us"};

SourcedValue scaled(SourcedValue value, double factor) {
  value.value *= factor;
  return value;
}

FabricKind kind_from(const std::string& text) {
  if (text == "switch") return FabricKind::Switch;
  if (text == "pcie_tree") return FabricKind::PcieTree;
  if (text == "clos") return FabricKind::Clos;
  return FabricKind::FullMesh;
}

std::optional<HostRuntimeSpec> read_host_runtime(ObjectReader& root) {
  auto reader = root.optional_object("host_runtime");
  if (!reader || !reader->valid()) return std::nullopt;
  reader->allow("description");
  HostRuntimeSpec host;
  host.op_dispatch_s = scaled(reader->sourced("op_dispatch_us", Range::NonNegative), kMicrosecond);
  host.collective_dispatch_s = scaled(reader->sourced("collective_dispatch_us", Range::NonNegative), kMicrosecond);
  host.step_overhead_s = scaled(reader->sourced("step_overhead_ms", Range::NonNegative), kMillisecond);
  reader->finish();
  return host;
}

// The device: an inline "device" block or a "device_file" resolved relative to the topology file. A device file's
// issues carry its own name and pointers; one that cannot be opened is reported at /device_file of the topology.
// Returns false when the device file could not be read (counts and routing are then not checked).
bool read_topology_device(ObjectReader& root, const std::string& path, TopologyConfig& topology) {
  if (!root.valid()) return false;
  const bool inline_block = root.has("device");
  const bool file_reference = root.has("device_file");
  if (inline_block && file_reference) {
    root.allow("device");
    root.allow("device_file");
    root.issues().error("/device_file", "expected either \"device\" or \"device_file\", not both");
    return false;
  }
  if (!inline_block && !file_reference) {
    root.issues().error("/device_file",
                        "missing required key (a device file such as \"devices/ascend_910b2.json\", resolved "
                        "against the topology file's folder, or an inline \"device\" object)");
    return false;
  }
  if (inline_block) {
    topology.device = read_device(root.object("device"));
    return true;  // its issues are reported; counts and routing are still checked, as for any other key
  }
  const std::string reference = root.string("device_file");
  if (reference.empty()) return false;
  topology.device_file = resolve_relative_path(path, reference);
  std::error_code error;
  if (!std::filesystem::is_regular_file(topology.device_file, error)) {
    root.issues().error("/device_file", "cannot open device file \"" + topology.device_file +
                                            "\" (expected a readable JSON file; a relative path is resolved "
                                            "against the topology file's folder)");
    return false;
  }
  try {
    topology.device = load_device(topology.device_file);
  } catch (const ConfigError& device_error) {
    root.issues().merge(device_error);
    return false;
  }
  return true;
}

// Keys that belong to another fabric kind get a precise message instead of "unknown key".
void reject_keys(ObjectReader& reader, const std::vector<std::string>& keys, const std::string& kind) {
  for (const auto& key : keys) {
    if (reader.has(key)) reader.issues().error(reader.child(key), "only valid for a \"" + kind + "\" fabric");
    reader.allow(key);
  }
}

void read_pcie_tree(ObjectReader& reader, FabricSpec& fabric, const std::string& scope) {
  if (scope == "cluster") {
    reader.issues().error(reader.child("scope"),
                          "expected \"node\" for a pcie_tree fabric (a PCIe tree sits in one node)");
  }
  fabric.domains = static_cast<int>(reader.integer("domains"));
  const bool joined = fabric.domains > 1;
  if (joined || reader.has("inter_domain_bandwidth_gb_per_s")) {
    fabric.inter_domain_bandwidth_bytes_per_s = scaled(reader.sourced("inter_domain_bandwidth_gb_per_s"), kGigabyte);
  }
  if (joined || reader.has("inter_domain_latency_us")) {
    fabric.inter_domain_latency_s = scaled(reader.sourced("inter_domain_latency_us", Range::NonNegative), kMicrosecond);
  }
}

void read_clos(ObjectReader& reader, FabricSpec& fabric) {
  fabric.nodes_per_leaf_sourced = reader.sourced("nodes_per_leaf");
  const double per_leaf = fabric.nodes_per_leaf_sourced.value;
  if (per_leaf > 0 && (per_leaf != std::floor(per_leaf) || per_leaf > 1e9)) {
    reader.issues().error(pointer_child(reader.child("nodes_per_leaf"), "value"), "expected a whole number of nodes");
  } else if (per_leaf > 0) {
    fabric.nodes_per_leaf = static_cast<int>(per_leaf);
  }
  fabric.oversubscription_sourced = reader.sourced("oversubscription", Range::AtLeastOne);
  if (fabric.oversubscription_sourced.value >= 1) fabric.oversubscription = fabric.oversubscription_sourced.value;
  fabric.spine_latency_s = scaled(reader.sourced("spine_latency_us", Range::NonNegative), kMicrosecond);
}

// Returns false when kind or scope could not be read (routing checks are then skipped).
bool read_fabric(ObjectReader reader, FabricSpec& fabric) {
  if (!reader.valid()) return false;
  fabric.name = reader.string("name");
  reader.allow("description");
  const std::string kind = reader.choice("kind", kKindNames);
  const std::string scope = reader.choice("scope", kScopeNames);
  fabric.kind = kind_from(kind);
  fabric.scope = scope == "cluster" ? FabricScope::Cluster : FabricScope::Node;
  fabric.link_bandwidth_bytes_per_s = scaled(reader.sourced("link_bandwidth_gb_per_s"), kGigabyte);
  fabric.latency_s = scaled(reader.sourced("latency_us", Range::NonNegative), kMicrosecond);
  if (kind == "pcie_tree") {
    read_pcie_tree(reader, fabric, scope);
  } else if (!kind.empty()) {
    reject_keys(reader, kPcieKeys, "pcie_tree");
  }
  if (kind == "clos") {
    read_clos(reader, fabric);
  } else if (!kind.empty()) {
    reject_keys(reader, kClosKeys, "clos");
  }
  if (kind.empty()) {  // the kind is wrong: its keys cannot be judged, so do not report them as unknown
    for (const auto& key : kPcieKeys) reader.allow(key);
    for (const auto& key : kClosKeys) reader.allow(key);
  }
  reader.finish();
  return !kind.empty() && !scope.empty();
}

std::string count_text(int count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// Cross-checks that need the whole file: domains divide the node, every rank reaches every other rank.
void check_routing(const TopologyConfig& topology, IssueCollector& issues) {
  const int per_node = topology.ranks_per_node();
  for (std::size_t i = 0; i < topology.fabrics.size(); ++i) {
    const auto& fabric = topology.fabrics[i];
    if (fabric.kind == FabricKind::PcieTree && fabric.domains > 0 && per_node % fabric.domains != 0) {
      issues.error(pointer_child(pointer_index("/fabrics", i), "domains"),
                   "expected a divisor of ranks_per_node (" + std::to_string(per_node) + " = devices_per_node x " +
                       "ranks_per_device), got " + std::to_string(fabric.domains));
    }
  }
  bool cluster_fabric = false;
  for (const auto& fabric : topology.fabrics) cluster_fabric = cluster_fabric || fabric.scope == FabricScope::Cluster;
  if (topology.nodes > 1 && !cluster_fabric) {
    issues.error("/fabrics", "disconnected NPU: " + count_text(topology.nodes, "node") +
                                 " but no fabric has \"scope\": \"cluster\", so ranks on different nodes cannot "
                                 "reach each other");
  }
  if (per_node > 1 && topology.fabrics.empty()) {
    issues.error("/fabrics", "disconnected NPU: " + count_text(per_node, "rank") +
                                 " per node but no fabric connects them (add a fabric with \"scope\": \"node\" "
                                 "or \"cluster\")");
  }
}

}  // namespace

const FabricSpec* TopologyConfig::fabric_between(int rank_a, int rank_b) const {
  const int per_node = ranks_per_node();
  const int total = total_ranks();
  if (per_node <= 0 || rank_a < 0 || rank_b < 0 || rank_a >= total || rank_b >= total) return nullptr;
  const bool same_node = rank_a / per_node == rank_b / per_node;
  for (const auto& fabric : fabrics) {
    if (same_node || fabric.scope == FabricScope::Cluster) return &fabric;
  }
  return nullptr;
}

const FabricSpec* TopologyConfig::fabric_named(const std::string& name) const {
  for (const auto& fabric : fabrics) {
    if (fabric.name == name) return &fabric;
  }
  return nullptr;
}

std::string to_string(FabricKind kind) {
  switch (kind) {
    case FabricKind::FullMesh:
      return "full_mesh";
    case FabricKind::Switch:
      return "switch";
    case FabricKind::PcieTree:
      return "pcie_tree";
    case FabricKind::Clos:
      return "clos";
  }
  return "?";
}

std::string to_string(FabricScope scope) {
  return scope == FabricScope::Cluster ? "cluster" : "node";
}

TopologyConfig load_topology(const std::string& path) {
  IssueCollector issues(path);
  const auto document = load_json_file(path, issues);
  issues.throw_if_any();
  TopologyConfig topology;
  topology.file = path;
  ObjectReader root(*document, "", issues);
  topology.name = root.string("name");
  topology.description = root.optional_string("description").value_or("");
  const bool device_ok = read_topology_device(root, path, topology);
  const auto nodes = std::min(root.integer("nodes"), kMaxRanks + 1);
  const auto devices_per_node = std::min(root.integer("devices_per_node"), kMaxRanks + 1);
  bool counts_ok = device_ok && nodes > 0 && devices_per_node > 0 && topology.device.ranks_per_device > 0;
  const double rank_count = static_cast<double>(nodes) * static_cast<double>(devices_per_node) *
                            static_cast<double>(topology.device.ranks_per_device);
  if (counts_ok && rank_count > static_cast<double>(kMaxRanks)) {
    issues.error("/nodes", "expected at most " + std::to_string(kMaxRanks) +
                               " ranks in total (nodes x devices_per_node x ranks_per_device)");
    counts_ok = false;
  }
  topology.nodes = static_cast<int>(nodes);
  topology.devices_per_node = static_cast<int>(devices_per_node);

  bool fabrics_ok = true;
  std::set<std::string> names;
  for (const auto& [value, pointer] : root.array("fabrics", 0)) {
    FabricSpec fabric;
    fabrics_ok = read_fabric(ObjectReader(*value, pointer, issues), fabric) && fabrics_ok;
    if (!fabric.name.empty() && !names.insert(fabric.name).second) {
      issues.error(pointer_child(pointer, "name"), "duplicate fabric name \"" + fabric.name + "\"");
    }
    topology.fabrics.push_back(std::move(fabric));
  }
  topology.host_runtime = read_host_runtime(root);
  root.finish();
  if (root.valid() && root.has("fabrics") && document->at("fabrics").is_array() && counts_ok && fabrics_ok) {
    check_routing(topology, issues);
  }
  issues.throw_if_any();
  return topology;
}

}  // namespace moesim::config

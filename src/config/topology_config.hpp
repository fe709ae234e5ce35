#pragma once
// Hardware and cluster as read from topologies/*.json: a device type (chip-level, usually a shared device file, see
// device_config.hpp), the host runtime and the fabrics that connect ranks. Generic enough for other clusters
// (NVSwitch + InfiniBand, future Ascend parts).
// Schema: docs/schema-topology.md. All values are stored in SI units (bytes, bytes/s, seconds, flop/s).
#include <optional>
#include <string>
#include <vector>

#include "config/device_config.hpp"

namespace moesim::config {

// The host side of a server (CPU, framework, runtime) that issues device work, per rank (one host process per
// rank). System-level, not chip-level: it lives in the topology file, not the device file. Optional: without it
// device ops start as soon as their dependencies allow. Schema: docs/schema-topology.md.
struct HostRuntimeSpec {
  SourcedValue op_dispatch_s;          // host time to issue one device compute operator
  SourcedValue collective_dispatch_s;  // host time to issue one collective
  SourcedValue step_overhead_s;        // per inference step, before its first op: scheduling, inputs, sampling
};

enum class FabricKind {
  FullMesh,  // a dedicated link per pair of ranks in the scope (HCCS in an 800 A2 node)
  Switch,    // one port per rank into a non-blocking switch (UB plane, NVSwitch)
  PcieTree,  // ranks on PCIe switches in CPU domains, domains joined by an inter-CPU link (300I Duo)
  Clos,      // a NIC per rank into leaf switches, leaves into spines with an oversubscription ratio (RoCE, IB)
};
enum class FabricScope { Node, Cluster };

struct FabricSpec {
  std::string name;  // e.g. "hccs", "roce", "ub", "rdma", "pcie"
  FabricKind kind = FabricKind::FullMesh;
  FabricScope scope = FabricScope::Node;
  // full_mesh: per pair link, each direction; switch: per rank port; pcie_tree: per rank link to its
  // domain switch; clos: per rank NIC.
  SourcedValue link_bandwidth_bytes_per_s;
  SourcedValue latency_s;  // one-way latency of a message crossing this fabric
  // pcie_tree only
  int domains = 1;
  SourcedValue inter_domain_bandwidth_bytes_per_s;  // the one link joining two domains (per direction)
  SourcedValue inter_domain_latency_s;              // added to latency_s when the two ranks sit in different domains
  // clos only: nodes under one leaf switch; leaf uplink = nodes_per_leaf * ranks_per_node * NIC / oversubscription
  int nodes_per_leaf = 1;
  double oversubscription = 1.0;
  SourcedValue nodes_per_leaf_sourced;    // provenance of nodes_per_leaf (given as a sourced value in JSON)
  SourcedValue oversubscription_sourced;  // provenance of oversubscription
  SourcedValue spine_latency_s;           // extra latency when crossing the spine tier
};

struct TopologyConfig {
  std::string file;
  std::string name;
  std::string description;
  DeviceSpec device;
  std::string device_file;  // the device file as resolved from "device_file"; empty for an inline "device" block
  int nodes = 1;
  int devices_per_node = 1;
  std::vector<FabricSpec> fabrics;  // ranks talk over the first fabric whose scope contains both
  std::optional<HostRuntimeSpec> host_runtime;

  int ranks_per_node() const { return devices_per_node * device.ranks_per_device; }
  int total_ranks() const { return nodes * ranks_per_node(); }
  // The fabric carrying traffic between two ranks (first listed whose scope contains both), or nullptr.
  const FabricSpec* fabric_between(int rank_a, int rank_b) const;
  const FabricSpec* fabric_named(const std::string& name) const;
};

std::string to_string(FabricKind kind);
std::string to_string(FabricScope scope);

// Reads and validates a topology file; throws ConfigError listing every issue.
TopologyConfig load_topology(const std::string& path);

}  // namespace moesim::config

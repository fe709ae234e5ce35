// `moesim describe-topology`: the loaded topology back in JSON units, every number with its provenance.
#include "config/topology_summary.hpp"

#include <iomanip>
#include <sstream>

#include "config/units.hpp"

namespace moesim::config {

using nlohmann::json;

namespace {

using namespace units;  // kGigabyte, kGibibyte, kTera, kMicrosecond

json sourced_json(const SourcedValue& value, double unit) {
  json out = {{"value", value.value / unit}};
  if (value.estimate) {
    out["estimate"] = true;
    out["reason"] = value.source;
  } else {
    out["source"] = value.source;
  }
  return out;
}

// The fabric ranks of one node use, and the one ranks of different nodes use (routing rule of fabric_between).
const FabricSpec* intra_node_fabric(const TopologyConfig& topology) {
  return topology.fabrics.empty() ? nullptr : &topology.fabrics.front();
}

const FabricSpec* inter_node_fabric(const TopologyConfig& topology) {
  for (const auto& fabric : topology.fabrics) {
    if (fabric.scope == FabricScope::Cluster) return &fabric;
  }
  return nullptr;
}

json fabric_json(const FabricSpec& fabric) {
  json out = {{"name", fabric.name},
              {"kind", to_string(fabric.kind)},
              {"scope", to_string(fabric.scope)},
              {"link_bandwidth_gb_per_s", sourced_json(fabric.link_bandwidth_bytes_per_s, kGigabyte)},
              {"latency_us", sourced_json(fabric.latency_s, kMicrosecond)}};
  if (fabric.kind == FabricKind::PcieTree) {
    out["domains"] = fabric.domains;
    if (fabric.domains > 1) {
      out["inter_domain_bandwidth_gb_per_s"] = sourced_json(fabric.inter_domain_bandwidth_bytes_per_s, kGigabyte);
      out["inter_domain_latency_us"] = sourced_json(fabric.inter_domain_latency_s, kMicrosecond);
    }
  }
  if (fabric.kind == FabricKind::Clos) {
    out["nodes_per_leaf"] = sourced_json(fabric.nodes_per_leaf_sourced, 1.0);
    out["oversubscription"] = sourced_json(fabric.oversubscription_sourced, 1.0);
    out["spine_latency_us"] = sourced_json(fabric.spine_latency_s, kMicrosecond);
  }
  return out;
}

std::string number_text(double value) {
  std::ostringstream text;
  text << std::setprecision(6) << value;
  return text.str();
}

// One aligned line: label, value with unit, provenance.
void line(std::ostringstream& out, const std::string& indent, const std::string& label, const SourcedValue& value,
          double unit, const std::string& unit_name) {
  const std::string amount = number_text(value.value / unit) + (unit_name.empty() ? "" : " " + unit_name);
  out << indent << std::left << std::setw(34 - static_cast<int>(indent.size())) << label << std::setw(16) << amount
      << (value.estimate ? "estimate: " : "source: ") << value.source << '\n';
}

std::string plural(int count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

void fabric_text(std::ostringstream& out, const FabricSpec& fabric) {
  out << "  " << fabric.name << ": " << to_string(fabric.kind) << ", scope " << to_string(fabric.scope) << '\n';
  const std::map<FabricKind, std::string> link_meaning = {{FabricKind::FullMesh, "link bandwidth (per pair)"},
                                                          {FabricKind::Switch, "port bandwidth (per rank)"},
                                                          {FabricKind::PcieTree, "link bandwidth (per rank)"},
                                                          {FabricKind::Clos, "NIC bandwidth (per rank)"}};
  line(out, "    ", link_meaning.at(fabric.kind), fabric.link_bandwidth_bytes_per_s, kGigabyte, "GB/s");
  line(out, "    ", "latency", fabric.latency_s, kMicrosecond, "us");
  if (fabric.kind == FabricKind::PcieTree) {
    out << "    " << std::left << std::setw(30) << "domains" << fabric.domains << '\n';
    if (fabric.domains > 1) {
      line(out, "    ", "inter-domain bandwidth", fabric.inter_domain_bandwidth_bytes_per_s, kGigabyte, "GB/s");
      line(out, "    ", "inter-domain extra latency", fabric.inter_domain_latency_s, kMicrosecond, "us");
    }
  }
  if (fabric.kind == FabricKind::Clos) {
    line(out, "    ", "nodes per leaf", fabric.nodes_per_leaf_sourced, 1.0, "");
    line(out, "    ", "oversubscription", fabric.oversubscription_sourced, 1.0, "");
    line(out, "    ", "spine extra latency", fabric.spine_latency_s, kMicrosecond, "us");
  }
}

}  // namespace

json topology_summary_json(const TopologyConfig& topology) {
  const DeviceSpec& device = topology.device;
  json peaks = json::object();
  for (const auto& [dtype, peak] : device.peak_flops) peaks[to_string(dtype)] = sourced_json(peak, kTera);
  json efficiency = json::object();
  auto add_class = [&](OpClass op_class) {
    const auto& entry = device.efficiency[static_cast<int>(op_class)];
    json row = {{"compute", sourced_json(entry.compute, 1.0)}, {"memory", sourced_json(entry.memory, 1.0)}};
    if (entry.compute_int8) row["compute_int8"] = sourced_json(*entry.compute_int8, 1.0);
    efficiency[to_string(op_class)] = row;
  };
  for (OpClass op_class : kAllOpClasses) add_class(op_class);
  for (OpClass op_class : kOptionalOpClasses) {
    if (device.has_efficiency(op_class)) add_class(op_class);
  }
  json host = nullptr;
  if (topology.host_runtime) {
    host = {{"op_dispatch_us", sourced_json(topology.host_runtime->op_dispatch_s, kMicrosecond)},
            {"collective_dispatch_us", sourced_json(topology.host_runtime->collective_dispatch_s, kMicrosecond)},
            {"step_overhead_ms", sourced_json(topology.host_runtime->step_overhead_s, kMillisecond)}};
  }
  json fabrics = json::array();
  for (const auto& fabric : topology.fabrics) fabrics.push_back(fabric_json(fabric));
  const FabricSpec* intra = intra_node_fabric(topology);
  const FabricSpec* inter = inter_node_fabric(topology);
  return {{"name", topology.name},
          {"description", topology.description},
          {"file", topology.file},
          {"device_file", topology.device_file.empty() ? json(nullptr) : json(topology.device_file)},
          {"nodes", topology.nodes},
          {"devices_per_node", topology.devices_per_node},
          {"ranks_per_device", device.ranks_per_device},
          {"ranks_per_node", topology.ranks_per_node()},
          {"total_ranks", topology.total_ranks()},
          {"device",
           {{"name", device.name},
            {"peak_tflops", peaks},
            {"memory_gib", sourced_json(device.memory_bytes, kGibibyte)},
            {"memory_bandwidth_gb_per_s", sourced_json(device.memory_bandwidth_bytes_per_s, kGigabyte)},
            {"launch_overhead_us", sourced_json(device.launch_overhead_s, kMicrosecond)},
            {"host_link_bandwidth_gb_per_s", sourced_json(device.host_link_bandwidth_bytes_per_s, kGigabyte)},
            {"mfu_peak_tflops",
             device.mfu_peak_flops ? sourced_json(*device.mfu_peak_flops, kTera) : json(nullptr)},
            {"efficiency", efficiency}}},
          {"fabrics", fabrics},
          {"host_runtime", host},
          {"routing",
           {{"intra_node", intra != nullptr ? json(intra->name) : json(nullptr)},
            {"inter_node", inter != nullptr ? json(inter->name) : json(nullptr)}}}};
}

std::string topology_summary_text(const TopologyConfig& topology) {
  const DeviceSpec& device = topology.device;
  std::ostringstream out;
  out << topology.name << '\n';
  if (!topology.description.empty()) out << "  " << topology.description << '\n';
  out << "  file: " << topology.file << '\n';
  out << "  ranks: " << topology.total_ranks() << " = " << plural(topology.nodes, "node") << " x "
      << plural(topology.devices_per_node, "device") << " x " << plural(device.ranks_per_device, "rank")
      << " per device\n";
  out << "device: " << device.name << " (numbers per rank"
      << (topology.device_file.empty() ? std::string(", inline") : ", from " + topology.device_file) << ")\n";
  for (const auto& [dtype, peak] : device.peak_flops) {
    line(out, "  ", "peak " + to_string(dtype), peak, kTera, dtype == Dtype::INT8 ? "TOPS" : "TFLOPS");
  }
  line(out, "  ", "memory", device.memory_bytes, kGibibyte, "GiB");
  line(out, "  ", "memory bandwidth", device.memory_bandwidth_bytes_per_s, kGigabyte, "GB/s");
  line(out, "  ", "launch overhead", device.launch_overhead_s, kMicrosecond, "us");
  line(out, "  ", "host link bandwidth", device.host_link_bandwidth_bytes_per_s, kGigabyte, "GB/s");
  if (device.mfu_peak_flops) line(out, "  ", "MFU quoted against", *device.mfu_peak_flops, kTera, "TFLOPS");
  out << "efficiency (fraction of peak compute / of memory bandwidth reached):\n";
  auto class_lines = [&](OpClass op_class) {
    const auto& entry = device.efficiency[static_cast<int>(op_class)];
    line(out, "  ", to_string(op_class) + " compute", entry.compute, 1.0, "");
    if (entry.compute_int8) line(out, "  ", to_string(op_class) + " compute int8", *entry.compute_int8, 1.0, "");
    line(out, "  ", to_string(op_class) + " memory", entry.memory, 1.0, "");
  };
  for (OpClass op_class : kAllOpClasses) class_lines(op_class);
  for (OpClass op_class : kOptionalOpClasses) {
    if (device.has_efficiency(op_class)) class_lines(op_class);
  }
  if (topology.host_runtime) {
    out << "host runtime (per rank, issues device work):\n";
    line(out, "  ", "op dispatch", topology.host_runtime->op_dispatch_s, kMicrosecond, "us");
    line(out, "  ", "collective dispatch", topology.host_runtime->collective_dispatch_s, kMicrosecond, "us");
    line(out, "  ", "step overhead", topology.host_runtime->step_overhead_s, kMillisecond, "ms");
  }
  out << "fabrics (two ranks use the first listed whose scope contains both):\n";
  for (const auto& fabric : topology.fabrics) fabric_text(out, fabric);
  const FabricSpec* intra = intra_node_fabric(topology);
  const FabricSpec* inter = inter_node_fabric(topology);
  out << "routing: intra-node " << (intra != nullptr ? intra->name : "none") << ", inter-node "
      << (inter != nullptr ? inter->name : "none") << '\n';
  return out.str();
}

}  // namespace moesim::config

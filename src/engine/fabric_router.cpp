#include "engine/fabric_router.hpp"

#include <algorithm>
#include <stdexcept>

namespace moesim::engine {

using config::FabricKind;
using config::FabricScope;
using config::FabricSpec;

// Link layouts (all links unidirectional; "up" = rank/group -> switch, "down" = switch -> rank/group):
//  full_mesh, per pair: layout = base link index of each scope domain; ordered pair (i, j) of a domain with n ranks
//                       is base + i*(n-1) + (j < i ? j : j-1).
//  full_mesh aggregated, switch: layout = {base}; rank r up = base + 2r, down = base + 2r + 1.
//  pcie_tree: layout = {rank base, group base, group size}; rank links as switch, group g up/down = gbase + 2g (+1).
//  clos: layout = {nic base, leaf base or -1}; NIC as switch, leaf l up/down = lbase + 2l (+1).

FabricRouter::FabricRouter(const config::TopologyConfig& topology, int num_ranks,
                           const std::vector<std::string>& forced_fabrics, const RouterOptions& options)
    : topology_(topology), num_ranks_(num_ranks), ranks_per_node_(topology.ranks_per_node()), options_(options) {
  if (ranks_per_node_ <= 0) throw std::invalid_argument("topology '" + topology.name + "': ranks per node must be > 0");
  if (num_ranks <= 0 || num_ranks > topology.total_ranks()) {
    throw std::invalid_argument("the graph uses " + std::to_string(num_ranks) + " ranks but topology '" +
                                topology.name + "' has " + std::to_string(topology.total_ranks()));
  }
  layouts_.resize(topology.fabrics.size());
  planes_.push_back(-1);
  plane_names_.push_back("");
  // Default plane: build the fabric of a same-node pair and of a cross-node pair, when such pairs exist.
  auto index_of = [&](const FabricSpec* spec) { return spec ? static_cast<int>(spec - topology.fabrics.data()) : -1; };
  if (std::min(num_ranks, ranks_per_node_) >= 2) {
    if (int f = index_of(topology.fabric_between(0, 1)); f >= 0) build_fabric(f);
  }
  if (num_ranks > ranks_per_node_) {
    if (int f = index_of(topology.fabric_between(0, ranks_per_node_)); f >= 0) build_fabric(f);
  }
  for (const std::string& name : forced_fabrics) {
    if (name.empty() || plane_of(name) >= 0) continue;
    const int f = index_of(topology.fabric_named(name));
    if (f < 0) {
      std::string known;
      for (const FabricSpec& spec : topology.fabrics) known += (known.empty() ? "" : ", ") + spec.name;
      throw std::invalid_argument("unknown fabric '" + name + "' (topology '" + topology.name + "' has: " + known +
                                  ")");
    }
    build_fabric(f);
    planes_.push_back(f);
    plane_names_.push_back(name);
  }
}

int FabricRouter::plane_of(const std::string& fabric) const {
  for (std::size_t i = 0; i < plane_names_.size(); ++i) {
    if (plane_names_[i] == fabric) return static_cast<int>(i);
  }
  return -1;
}

int FabricRouter::scope_size(const FabricSpec& spec) const {
  return spec.scope == FabricScope::Node ? ranks_per_node_ : num_ranks_;
}

bool FabricRouter::mesh_aggregated(const FabricSpec& spec) const {
  return options_.aggregated_node_ports || std::min(scope_size(spec), num_ranks_) > options_.aggregate_above_ranks;
}

void FabricRouter::build_fabric(int f) {
  std::vector<int>& layout = layouts_[static_cast<std::size_t>(f)];
  if (!layout.empty()) return;
  const FabricSpec& spec = topology_.fabrics[static_cast<std::size_t>(f)];
  const double bw = spec.link_bandwidth_bytes_per_s.value;
  if (!(bw > 0.0)) throw std::invalid_argument("fabric '" + spec.name + "': link bandwidth must be > 0");
  auto add = [&](const std::string& name, double bandwidth, bool binding = true) {
    links_.push_back({spec.name + "." + name, bandwidth, binding});
  };
  auto add_rank_ports = [&](const std::string& what, double bandwidth) {
    layout.push_back(static_cast<int>(links_.size()));
    for (int r = 0; r < num_ranks_; ++r) {
      add(what + std::to_string(r) + ".up", bandwidth);
      add(what + std::to_string(r) + ".down", bandwidth);
    }
  };
  switch (spec.kind) {
    case FabricKind::FullMesh: {
      const int domain = scope_size(spec);
      if (mesh_aggregated(spec)) {
        add_rank_ports("port.r", bw * (std::min(domain, num_ranks_) - 1));
        break;
      }
      pair_link_domain_ = std::max(pair_link_domain_, domain);
      for (int start = 0; start < num_ranks_; start += domain) {
        layout.push_back(static_cast<int>(links_.size()));
        const int n = std::min(domain, num_ranks_ - start);
        for (int i = 0; i < n; ++i) {
          for (int j = 0; j < n; ++j) {
            if (i != j) {
              add("r" + std::to_string(start + i) + ">r" + std::to_string(start + j), bw);
              links_.back().pair_link = true;
            }
          }
        }
      }
      break;
    }
    case FabricKind::Switch:
      add_rank_ports("port.r", bw);
      break;
    case FabricKind::PcieTree: {
      if (spec.domains < 1) throw std::invalid_argument("fabric '" + spec.name + "': domains must be >= 1");
      const int group_size = (scope_size(spec) + spec.domains - 1) / spec.domains;
      add_rank_ports("r", bw);
      layout.push_back(static_cast<int>(links_.size()));
      layout.push_back(group_size);
      const int nodes = (num_ranks_ + ranks_per_node_ - 1) / ranks_per_node_;
      const int groups =
          spec.scope == FabricScope::Node ? nodes * spec.domains : (num_ranks_ + group_size - 1) / group_size;
      for (int g = 0; g < groups; ++g) {
        add("domain" + std::to_string(g) + ".up", spec.inter_domain_bandwidth_bytes_per_s.value);
        add("domain" + std::to_string(g) + ".down", spec.inter_domain_bandwidth_bytes_per_s.value);
      }
      break;
    }
    case FabricKind::Clos: {
      if (spec.nodes_per_leaf < 1) throw std::invalid_argument("fabric '" + spec.name + "': nodes_per_leaf >= 1");
      if (!(spec.oversubscription > 0.0)) throw std::invalid_argument("fabric '" + spec.name + "': oversubscription");
      add_rank_ports("nic.r", bw);
      const int nodes = (num_ranks_ + ranks_per_node_ - 1) / ranks_per_node_;
      const int leaves = (nodes + spec.nodes_per_leaf - 1) / spec.nodes_per_leaf;
      if (leaves <= 1) {
        layout.push_back(-1);
        break;
      }
      layout.push_back(static_cast<int>(links_.size()));
      const double uplink = spec.nodes_per_leaf * ranks_per_node_ * bw / spec.oversubscription;
      const bool binding = spec.oversubscription > 1.0;  // else the leaf's NICs can never fill it
      for (int l = 0; l < leaves; ++l) {
        add("leaf" + std::to_string(l) + ".up", uplink, binding);
        add("leaf" + std::to_string(l) + ".down", uplink, binding);
      }
      break;
    }
  }
}

bool FabricRouter::fabric_holds(int f, int a, int b) const {
  const FabricSpec& spec = topology_.fabrics[static_cast<std::size_t>(f)];
  return spec.scope == FabricScope::Cluster || a / ranks_per_node_ == b / ranks_per_node_;
}

bool FabricRouter::fabric_route(int f, int src, int dst, Route& out) const {
  const std::vector<int>& layout = layouts_[static_cast<std::size_t>(f)];
  if (layout.empty() || !fabric_holds(f, src, dst)) return false;
  const FabricSpec& spec = topology_.fabrics[static_cast<std::size_t>(f)];
  out = Route{};
  out.fabric = f;
  out.latency_s = spec.latency_s.value;
  auto push = [&](int link) { out.links[static_cast<std::size_t>(out.count++)] = link; };
  auto ports = [&](int base) {
    push(base + 2 * src);
    push(base + 2 * dst + 1);
  };
  // Rank port up, then (between groups: leaves or CPU domains) the source group's uplink and the destination
  // group's downlink with the extra tier latency, then the destination rank's port down.
  auto two_tier = [&](int source_group, int destination_group, double extra_latency_s) {
    push(layout[0] + 2 * src);
    if (source_group != destination_group) {
      push(layout[1] + 2 * source_group);
      push(layout[1] + 2 * destination_group + 1);
      out.latency_s += extra_latency_s;
    }
    push(layout[0] + 2 * dst + 1);
  };
  switch (spec.kind) {
    case FabricKind::FullMesh: {
      if (mesh_aggregated(spec)) {
        ports(layout[0]);
        out.rate_bound_bytes_per_s = spec.link_bandwidth_bytes_per_s.value;
        break;
      }
      const int domain = scope_size(spec);
      const int d = src / domain;
      const int start = d * domain;
      const int n = std::min(domain, num_ranks_ - start);
      const int i = src - start;
      const int j = dst - start;
      push(layout[static_cast<std::size_t>(d)] + i * (n - 1) + (j < i ? j : j - 1));
      break;
    }
    case FabricKind::Switch:
      ports(layout[0]);
      break;
    case FabricKind::PcieTree: {
      const int group_size = layout[2];
      auto group = [&](int r) {
        if (spec.scope == FabricScope::Cluster) return r / group_size;
        return (r / ranks_per_node_) * spec.domains + (r % ranks_per_node_) / group_size;
      };
      two_tier(group(src), group(dst), spec.inter_domain_latency_s.value);
      break;
    }
    case FabricKind::Clos: {
      two_tier(src / ranks_per_node_ / spec.nodes_per_leaf, dst / ranks_per_node_ / spec.nodes_per_leaf,
               spec.spine_latency_s.value);
      break;
    }
  }
  return true;
}

bool FabricRouter::route(int plane, int src, int dst, Route& out) const {
  if (plane < 0 || plane >= num_planes() || src == dst || src < 0 || dst < 0 || src >= num_ranks_ ||
      dst >= num_ranks_) {
    return false;
  }
  int f = planes_[static_cast<std::size_t>(plane)];
  if (f < 0) {
    const FabricSpec* spec = topology_.fabric_between(src, dst);
    if (!spec) return false;
    f = static_cast<int>(spec - topology_.fabrics.data());
  }
  return fabric_route(f, src, dst, out);
}

bool FabricRouter::loopback_route(int plane, int rank, Route& out) const {
  const int other = rank + ranks_per_node_ < num_ranks_ ? rank + ranks_per_node_ : rank - ranks_per_node_;
  Route there, back;
  if (other < 0 || !route(plane, rank, other, there) || !route(plane, other, rank, back)) return false;
  out = there;
  out.links[1] = back.links[static_cast<std::size_t>(back.count - 1)];
  out.count = 2;
  return true;
}

Route FabricRouter::route_or_throw(int plane, int src, int dst) const {
  Route out;
  if (!route(plane, src, dst, out)) {
    const std::string where = plane > 0 && plane < num_planes()
                                  ? "fabric '" + plane_names_[static_cast<std::size_t>(plane)] + "'"
                                  : std::string("any fabric");
    throw std::invalid_argument("no route from rank " + std::to_string(src) + " to rank " + std::to_string(dst) +
                                " over " + where + " of topology '" + topology_.name + "'");
  }
  return out;
}

}  // namespace moesim::engine

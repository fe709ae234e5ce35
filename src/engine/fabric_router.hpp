#pragma once
// Links and routes of the simulated cluster, computed arithmetically from the topology (no SimGrid here).
// A route is at most 4 unidirectional links plus a one-way latency. The SimGrid zone in platform_builder.cpp asks
// this router for every flow, so routing costs O(route length) and no route table is stored (P7 in
// shared/reference/simgrid-3.32.md).
//
// Planes: plane 0 is the default routing (TopologyConfig::fabric_between: first fabric whose scope holds both
// ranks). Planes 1.. are the named fabrics a graph forces (Collective::fabric), each routing every pair over that
// fabric only. The platform gives every rank one host per plane; see docs/engine.md.
#include <array>
#include <string>
#include <vector>

#include "config/topology_config.hpp"

namespace moesim::engine {

struct LinkSpec {
  std::string name;
  double bandwidth_bytes_per_s = 0.0;
  // false when the link can never be a bottleneck: its capacity is at least the sum of the capacities that feed
  // it (a Clos leaf uplink at oversubscription <= 1). Such links are left out of SimGrid routes, which keeps
  // independent traffic in separate max-min components, but their bytes are still counted.
  bool binding = true;
  // true for a per-pair full-mesh link: only flows from its one source rank to its one destination rank use it.
  bool pair_link = false;
};

struct Route {
  std::array<int, 4> links{};  // indices into FabricRouter::links()
  int count = 0;
  double latency_s = 0.0;
  double rate_bound_bytes_per_s = 0.0;  // > 0: per-flow cap (aggregated full-mesh ports keep the per-pair limit)
  int fabric = -1;                      // index into TopologyConfig::fabrics
};

struct RouterOptions {
  // full_mesh fabrics: one aggregated in/out port per rank ((n-1) x pair bandwidth) plus a per-flow cap at the pair
  // bandwidth, instead of one link per ordered pair. Forced on for meshes larger than aggregate_above_ranks.
  bool aggregated_node_ports = false;
  int aggregate_above_ranks = 64;
};

class FabricRouter {
 public:
  // Builds the links needed by `num_ranks` ranks (the first ranks of the topology) on the default plane and on one
  // plane per name in `forced_fabrics`. Throws std::invalid_argument for an unknown fabric name or bad counts.
  FabricRouter(const config::TopologyConfig& topology, int num_ranks, const std::vector<std::string>& forced_fabrics,
               const RouterOptions& options);

  int num_ranks() const { return num_ranks_; }
  int num_planes() const { return static_cast<int>(planes_.size()); }
  // Plane of a forced fabric name ("" = default plane 0); -1 when the name was not requested at construction.
  int plane_of(const std::string& fabric) const;
  const std::vector<LinkSpec>& links() const { return links_; }
  // Ranks a and b can share a per-pair full-mesh link iff a / pair_link_domain() == b / pair_link_domain();
  // 0 when the default plane and the forced planes have no per-pair mesh. Conservative when meshes of different
  // scopes coexist (the largest scope is returned).
  int pair_link_domain() const { return pair_link_domain_; }

  // Contract: src != dst, both in [0, num_ranks). Returns false when no fabric of the plane holds both ranks.
  bool route(int plane, int src, int dst, Route& out) const;
  // A rank's loopback over its ports: the first link of its route to a rank of another node, then the last link of
  // that rank's route back (mirrored ranks send a flow whose image the sender itself receives this way:
  // mirror_flows.hpp). False when the ranks fill one node or there is no such route.
  bool loopback_route(int plane, int rank, Route& out) const;
  // Same, but throws std::invalid_argument naming the pair and the plane when there is no route.
  Route route_or_throw(int plane, int src, int dst) const;
  // True when the route is a single per-pair full-mesh link without a per-flow cap: only flows from its source
  // to its destination can ever share it.
  bool is_dedicated_pair_link(const Route& route) const {
    return route.count == 1 && route.rate_bound_bytes_per_s <= 0.0 &&
           links_[static_cast<std::size_t>(route.links[0])].pair_link;
  }

 private:
  const config::TopologyConfig& topology_;
  int num_ranks_;
  int ranks_per_node_;
  std::vector<int> planes_;  // plane -> fabric index (-1 = default routing)
  std::vector<std::string> plane_names_;
  std::vector<LinkSpec> links_;
  // Per fabric: link-index bases (see fabric_router.cpp for the layout of each kind); empty when not built.
  std::vector<std::vector<int>> layouts_;
  RouterOptions options_;
  int pair_link_domain_ = 0;

  void build_fabric(int fabric);
  bool fabric_holds(int fabric, int a, int b) const;
  bool fabric_route(int fabric, int src, int dst, Route& out) const;
  bool mesh_aggregated(const config::FabricSpec& spec) const;
  int scope_size(const config::FabricSpec& spec) const;
};

}  // namespace moesim::engine

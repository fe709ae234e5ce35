#pragma once
// Topology -> SimGrid platform, built in code (no XML): one host per rank and per routing plane, one SimGrid link
// per FabricRouter link, all in a single custom zone whose routes are computed by the FabricRouter on demand.
// One zone keeps setup O(links) (P7), and the route lookup is O(route length).
// SimGrid types are only forward-declared here: the header is SimGrid-free.
#include <memory>
#include <string>
#include <vector>

#include "config/topology_config.hpp"
#include "engine/fabric_router.hpp"

namespace simgrid::s4u {
class Host;
}

namespace moesim::engine {

struct Platform {
  std::unique_ptr<FabricRouter> router;
  std::vector<simgrid::s4u::Host*> hosts;  // index plane * num_ranks + rank
  double host_speed_flops = 0.0;           // peak dense fp16/bf16 flop/s of a rank
  simgrid::s4u::Host* host(int plane, int rank) const {
    return hosts[static_cast<std::size_t>(plane * router->num_ranks() + rank)];
  }
};

// Contract: the s4u::Engine exists and is configured (set_config is not allowed after this call); called once per
// process. Creates the root zone. Throws std::invalid_argument for a topology that cannot hold num_ranks ranks or an
// unknown forced fabric.
Platform build_platform(const config::TopologyConfig& topology, int num_ranks,
                        const std::vector<std::string>& forced_fabrics, const RouterOptions& options);

}  // namespace moesim::engine

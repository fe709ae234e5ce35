#pragma once
// Pure helpers of the collective library (collectives.cpp): finding identical collectives (so that they share one
// prepared plan), the order in which each member posts its flows of a phase, and the links a flow's bytes cross.
// No SimGrid.
#include <cstdint>
#include <vector>

#include "engine/collective_plan.hpp"
#include "engine/fabric_router.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

// Hash and exact comparison of everything a plan depends on (kind, algorithm, dtype, root, sizes, ranks, fabric).
std::uint64_t collective_hash(const model::Collective& c);
bool same_collective(const model::Collective& a, const model::Collective& b);

// Per member, its flows of the phase in posting order: offsets[m]..offsets[m+1] into order, entries flow * 2 (+1
// for a receive), in pairwise-round order ((dst - src) mod p, the same for both ends; sends before receives within
// a round), which cannot deadlock with any window >= 2. Skips flows with skip[f]. receivers: per flow, the member
// that receives it (< 0: nobody posts a receive), when mirrored (mirror_flows.hpp); empty: flow.dst.
void index_phase(const CollectivePhase& phase, const std::vector<char>& skip, const std::vector<int>& receivers, int p,
                 std::vector<int>& offsets, std::vector<int>& order);

// Calls add(link, bytes) for every link the flow's bytes cross (for a folded flow, the links from its source to
// every other member of its set, mesh_folding.hpp) and returns the flow's own route (source to destination).
template <class Add>
Route for_each_flow_link(const FabricRouter& router, int plane, const model::Collective& c,
                         const CollectivePhase& phase, const PlannedFlow& flow, Add&& add) {
  Route own, route;
  const int src = c.ranks[static_cast<std::size_t>(flow.src)];
  auto route_to = [&](int dst_member) {
    router.route(plane, src, c.ranks[static_cast<std::size_t>(dst_member)], route);
    for (int i = 0; i < route.count; ++i) add(route.links[static_cast<std::size_t>(i)], flow.bytes);
    if (dst_member == flow.dst) own = route;
  };
  if (flow.folded_set < 0) {
    route_to(flow.dst);
    return own;
  }
  for (int member : phase.folded_sets[static_cast<std::size_t>(flow.folded_set)]) {
    if (member != flow.src) route_to(member);
  }
  return own;
}

}  // namespace moesim::engine

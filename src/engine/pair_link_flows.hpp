#pragma once
// Analytic timing of flows on dedicated per-pair links (docs/engine.md, "Flows on dedicated pair links").
// A per-pair full-mesh link (HCCS inside an Atlas 800 node) carries only flows from its source rank to its
// destination rank. When every collective in which a rank meets a possible mesh peer runs on ONE stream of that
// rank, the rank's flows over pair links never overlap: each stream runs its collectives one after the other and a
// member leaves a phase only when its sends have arrived. Such a flow then runs alone on its link at the link's
// bandwidth, so SimGrid would time it exactly as bytes / bandwidth; the engine skips the SimGrid activity and
// waits that long instead. That needs a common start: phase 0 of a collective starts for every member at the
// release of the arrival barrier; a later phase only when every earlier phase was analytic and took every member
// the same time. Pure: no SimGrid.
#include <vector>

#include "engine/collective_plan.hpp"
#include "engine/fabric_router.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

// Per rank: 1 when all flows the rank sends over pair links come from one stream. member_streams[c][m] is the
// stream of member m's op of collective c. O(sum of group sizes x log group size).
std::vector<char> exclusive_pair_link_sources(const FabricRouter& router, const model::OpGraph& graph,
                                              const std::vector<std::vector<int>>& member_streams);

struct AnalyticFlows {
  std::vector<char> analytic;  // per flow of the phase: timed analytically (not simulated)
  std::vector<double> wait_s;  // per member: time until its last analytic flow (sent or received) ends
  bool any = false;
};

// Marks the phase's flows that run alone on a pair link from an exclusive source. `synchronized` = the phase
// starts at the same time for every member (see above); when false nothing is marked.
AnalyticFlows analytic_pair_link_flows(const CollectivePhase& phase, const model::Collective& collective,
                                       const FabricRouter& router, int plane, const std::vector<char>& exclusive,
                                       bool synchronized);

// True when the phase was entirely analytic and every member waited the same time: the next phase then starts
// together for all members.
bool keeps_members_synchronized(const CollectivePhase& phase, const AnalyticFlows& flows);

}  // namespace moesim::engine

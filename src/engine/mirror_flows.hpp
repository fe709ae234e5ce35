#pragma once
// The flow side of mirrored ranks (rank_mirroring.hpp; docs/engine.md "Mirrored ranks"). Only a node's leader
// (local index 0) runs, so each phase keeps the flows a leader sends:
//  - to another leader: as usual;
//  - to a mirrored rank of its own node, over their dedicated pair link: sent to that rank's host with no
//    receiver (the leader's receives from its node are the images of these sends, so it waits for its sends);
//  - to a mirrored rank (node M, l) of another node: sent to M's leader instead, which receives it in place of the
//    flow from (N, l) it gets in the full run (the image of this one). Across nodes the route is the source's
//    port and the destination's port only, so M's leader port carries exactly the flows (M, l)'s port would.
// The checks below make these substitutions exact. Pure: no SimGrid.
#include <string>
#include <vector>

#include "engine/collective_plan.hpp"
#include "engine/fabric_router.hpp"
#include "engine/rank_mirroring.hpp"

namespace moesim::engine {

constexpr int kNoReceiver = -1;   // in-node flow to a mirrored rank: its sender waits for it
constexpr int kNotSimulated = -2;  // sent by a mirrored rank: dropped

// Empty when collective `index` (plan on `plane`) can run mirrored; else why not: a forced fabric plane, a Closed
// collective whose plan is not invariant under the shift, an in-node flow to a mirrored rank that is not on a
// dedicated pair link, a cross-node route through links other than the two ends' ports (a binding leaf uplink),
// or a member that would post more than `window` comms in one phase.
std::string mirror_plan_refusal(const model::Collective& collective, int index, const CollectivePlan& plan, int plane,
                                const RankMirror& mirror, const FabricRouter& router, std::size_t window);

// Per flow of the phase: the member that receives it when mirrored (above), kNoReceiver or kNotSimulated.
std::vector<int> mirrored_receivers(const model::Collective& collective, const CollectivePhase& phase,
                                    const RankMirror& mirror);

}  // namespace moesim::engine

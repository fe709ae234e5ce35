#pragma once
// The flow side of mirrored ranks (rank_mirroring.hpp; docs/engine.md "Mirrored ranks"). Only the leaders (the
// first d ranks of each block) run, so each phase keeps the flows a leader sends:
//  - to another leader: as usual;
//  - to a mirrored rank t of its own node, over their dedicated pair link: sent to t's host with no receiver
//    actor. The leader t mod d receives, in the full run, the images of these flows; when that is the sender
//    itself it simply waits for its send (always so for d = 1), otherwise the sender tells it when the flow ends
//    (a proxy receive);
//  - to a mirrored rank over ports (another node, or a switch inside the node such as CloudMatrix384's UB): sent
//    to that rank's leader instead, which receives it in place of the flow it gets in the full run (the image of
//    this one). The route is the source's port and the destination's port only, so that leader's port carries
//    exactly the flows the mirrored rank's port would; when the leader is the sender itself the flow goes out of
//    its port and back in (a loopback route).
// The checks below make these substitutions exact. Pure: no SimGrid.
#include <string>
#include <vector>

#include "engine/collective_plan.hpp"
#include "engine/fabric_router.hpp"
#include "engine/rank_mirroring.hpp"

namespace moesim::engine {

constexpr int kNoReceiver = -1;    // in-node flow to a mirrored rank: its sender waits for it
constexpr int kNotSimulated = -2;  // sent by a mirrored rank: dropped
constexpr int kLoopback = -3;      // flow over ports whose image the sender receives: over its loopback route
// In-node flow to a mirrored rank whose image another leader receives: that member waits for the sender's word.
constexpr int kProxyBase = -4;
inline int proxy_receiver_code(int member) {
  return kProxyBase - member;
}
inline bool is_proxy_receiver(int code) {
  return code <= kProxyBase;
}
inline int proxy_member(int code) {
  return kProxyBase - code;
}

// Empty when collective `index` (plan on `plane`) can run mirrored; else why not: a forced fabric plane, a Closed
// collective whose plan is not invariant under the shift, a route (not a dedicated pair link) through links other
// than the two ends' ports (a binding leaf uplink, a shared PCIe switch), a loopback route that is not the flow's
// out port and its image's in port, or a member that would post more than `window` comms in one phase.
std::string mirror_plan_refusal(const model::Collective& collective, int index, const CollectivePlan& plan, int plane,
                                const RankMirror& mirror, const FabricRouter& router, std::size_t window);

// Empty when the platform is invariant under sigma, else why not: every in-node pair of every node and every
// ordered pair of nodes (first ranks) has a route of the same fabric, link count, binding pattern, latency and
// rate bound as its image. Without it the full run is not symmetric (e.g. a block shift of two nodes across Clos
// leaves of three: a flow's image may cross the spine when the flow does not). O(ranks x k + nodes^2) routes.
std::string mirror_platform_refusal(const RankMirror& mirror, const FabricRouter& router);

// Per flow of the phase: the member that receives it from its mailbox when mirrored (above), kNoReceiver,
// kNotSimulated, kLoopback or a proxy receiver's code.
std::vector<int> mirrored_receivers(const model::Collective& collective, const CollectivePhase& phase, int plane,
                                    const RankMirror& mirror, const FabricRouter& router);

}  // namespace moesim::engine

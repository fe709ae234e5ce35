#pragma once
// Cross-node flow aggregation (EngineOptions::aggregate_cross_node_flows, docs/engine.md and docs/performance.md).
// In a collective phase, the flows from member (node M, local index l) to the members of another node N become one
// flow to N's member at local index l carrying their sum. This keeps every link's byte load, so it is applied only
// when:
//  * the group holds the same number of members on each of its >= 2 nodes;
//  * every cross-node route runs over a per-rank port at each end plus node-level links (clos or switch fabrics,
//    no per-flow rate cap): then a flow's links depend only on its source rank, its destination rank and their
//    nodes;
//  * for every (M, N, l), the bytes member (M, l) sends to node N equal the bytes node M sends to member (N, l)
//    (relative 1e-9): true for uniform all-to-all(v), false for rings and skewed matrices (left unchanged).
// A uniform E-rank all-to-all over n nodes of r ranks then costs r - 1 + (n - 1) flows per rank instead of E - 1.
// Under max-min sharing the merged phase alone takes exactly the same time (each port carries the same bytes over
// fewer, proportionally larger flows); what changes is fairness against OTHER traffic on the same port: the r
// merged flows compete as one flow (tested against the unmerged simulation within 2%). Pure: no SimGrid.
#include "engine/collective_plan.hpp"

namespace moesim::engine {

// Merges the cross-node flows of `phase` when the conditions above hold; returns true when it changed the phase.
bool aggregate_cross_node_flows(CollectivePhase& phase, const model::Collective& collective,
                                const PlanContext& context);

}  // namespace moesim::engine

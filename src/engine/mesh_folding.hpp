#pragma once
// Folded mesh phases (EngineOptions::fold_symmetric_meshes; docs/engine.md "Folded mesh phases").
// In a full-mesh domain with one dedicated link per ordered rank pair (HCCS inside an Atlas 800 node), a collective
// phase in which a set S of the domain's ranks send the same bytes to each other (Direct AllGather, ReduceScatter,
// AllReduce phases, uniform all-to-alls) puts one flow on every link between members of S. When, over the whole
// graph, every phase that uses the domain's pair links is such a uniform mesh, started at the same time by all of
// S, and the sets S of the domain are pairwise equal or disjoint, then at every instant every link between members
// of S carries the same number of flows; all |S| - 1 flows of a member run at the same rate and end together. One
// flow per member, to the next member of S on its own pair link, then sees exactly the same sharing: the engine
// simulates that flow and counts its bytes on all |S| - 1 links. Exact (tests to 1e-9); |S| - 1 times fewer flows.
// A domain where any use breaks the conditions (a SendRecv on a pair link, a phase that starts when its members
// are no longer together, overlapping different sets) keeps every flow. Pure: no SimGrid.
#include <vector>

#include "engine/collective_plan.hpp"
#include "engine/fabric_router.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

// One distinct collective and its plan (identical collectives share a plan, so the caller passes one of each).
struct PlannedCollective {
  const model::Collective* collective = nullptr;
  const CollectivePlan* plan = nullptr;
  int plane = 0;
};

// Per pair-link domain (rank / router.pair_link_domain()): 1 when folding is exact there (conditions above).
// Empty when the router has no pair links. `window`: comms a member keeps outstanding (CollectiveRunner); a phase
// in which a member posts more cannot start all its flows at once and is not folded.
std::vector<char> foldable_domains(const FabricRouter& router, int num_ranks,
                                   const std::vector<PlannedCollective>& collectives, std::size_t window);

// Folds the uniform mesh phases of the plan that lie in foldable domains (plane 0 only): each member of S keeps
// one flow, to its successor in S, with PlannedFlow::folded_set pointing at S in CollectivePhase::folded_sets.
// Returns the number of flows removed.
std::size_t fold_mesh_flows(CollectivePlan& plan, const model::Collective& collective, const FabricRouter& router,
                            int plane, const std::vector<char>& foldable, std::size_t window);

}  // namespace moesim::engine

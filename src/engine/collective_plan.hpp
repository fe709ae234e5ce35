#pragma once
// Collective algorithms as data: a collective becomes a list of phases, each a set of "fat" flows (one per
// (src, dst) pair per phase, carrying the phase's whole volume between them) plus a number of latency steps that
// the engine adds analytically (steps x alpha, alpha = the largest route latency among the phase's flows).
// See shared/reference/simgrid-3.32.md (ii) and docs/engine.md for the derivations. Pure: no SimGrid.
#include <vector>

#include "engine/fabric_router.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

struct PlannedFlow {
  int src = 0;  // member index in Collective::ranks
  int dst = 0;
  double bytes = 0.0;
  int folded_set = -1;  // >= 0: stands for src's flows to every other member of CollectivePhase::folded_sets[i]
};

struct CollectivePhase {
  std::vector<PlannedFlow> flows;
  std::vector<std::vector<int>> folded_sets;  // member indices, sorted (mesh_folding.hpp)
  double latency_steps = 0.0;
  double alpha_s = 0.0;  // filled by plan_collective from the routes
};

struct CollectivePlan {
  model::CollectiveAlgorithm algorithm = model::CollectiveAlgorithm::Direct;  // after Auto and fallbacks
  std::vector<CollectivePhase> phases;
};

struct PlanContext {
  const FabricRouter& router;
  int plane = 0;  // routing plane (0 = default, else a forced fabric)
  int ranks_per_node = 1;
  const config::TopologyConfig& topology;
  bool aggregate_cross_node = false;  // merge cross-node flows where link loads stay equal (flow_aggregation.hpp)
};

// The algorithm `Auto` resolves to, and the fallbacks (halving-doubling on non-power-of-2 groups -> ring;
// hierarchical on irregular or single-node groups -> flat). Rule in docs/engine.md.
model::CollectiveAlgorithm resolve_algorithm(const model::Collective& collective, const PlanContext& context);

// Contract: the collective passed model::validate. Zero-byte flows are dropped. Routes are looked up for alpha.
CollectivePlan plan_collective(const model::Collective& collective, const PlanContext& context);

// Checks before simulation that every pair the collective may use has a route on its plane; throws
// std::invalid_argument naming the collective otherwise. O(group size).
void check_routable(const model::Collective& collective, int index, const PlanContext& context);

}  // namespace moesim::engine

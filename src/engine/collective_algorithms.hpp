#pragma once
// Flat collective algorithms over a (sub)group, emitting CollectivePhase lists; used by collective_plan.cpp.
// Sizes follow model::Collective (nccl-tests convention). Positions are indices into `members`; flows carry
// the member indices themselves. Pure, no SimGrid.
#include <functional>
#include <vector>

#include "engine/collective_plan.hpp"

namespace moesim::engine::detail {

enum class Flat { Ring, Direct, HalvingDoubling };

bool is_power_of_two(std::size_t n);

// Broadcast, AllReduce, ReduceScatter, AllGather, AllToAll (uniform) and SendRecv over `members` with `bytes`
// (the collective's size for this subgroup). root_pos is the broadcast root's position in `members`.
// HalvingDoubling on a non-power-of-2 group falls back to Ring; on AllToAll to Direct.
std::vector<CollectivePhase> flat_phases(model::CollectiveKind kind, Flat algorithm, const std::vector<int>& members,
                                         double bytes, int root_pos);

// All-to-all with explicit per-pair bytes: matrix(i, j) for positions i -> j of `members` (diagonal ignored).
// Ring: one flow per ring neighbour carrying every pair's data that crosses that hop, p-1 latency steps.
// Direct (and HalvingDoubling): one flow per pair, 1 latency step.
std::vector<CollectivePhase> alltoallv_phases(Flat algorithm, const std::vector<int>& members,
                                              const std::function<double(int, int)>& matrix);

// Runs several subgroups' phase lists side by side: phase k of the result holds phase k of every input
// (latency_steps = the maximum), used for the per-node and per-local-rank stages of hierarchical algorithms.
std::vector<CollectivePhase> merge_parallel(const std::vector<std::vector<CollectivePhase>>& lists);

}  // namespace moesim::engine::detail

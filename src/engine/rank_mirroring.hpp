#pragma once
// Mirrored ranks: when the op graph is invariant under shifting every rank's local index inside its node by d
// (sigma: (node, l) -> (node, (l + d) mod k), d a divisor of the k ranks per node: 1 for node-wide TP groups, 4 for
// TP4 groups two to a node), rank (node, l) runs exactly as (node, l mod d) does, op for op. The engine then
// simulates only the first d ranks of each node (its leaders) and gives every other rank's ops their leader's
// timings. This file finds out, from the graph alone, whether the symmetry holds and which op mirrors which;
// CollectiveRunner adds the checks that need plans and routes (per-pair links inside a node, per-rank ports
// across nodes). docs/engine.md, "Mirrored ranks". SimGrid-free.
#include <cstdint>
#include <string>
#include <vector>

#include "model/op_graph.hpp"

namespace moesim::engine {

// How a collective maps under sigma: onto itself (a node-wide TP group, an all-to-all over whole nodes), or onto
// another collective, when all its members are leaders or none is (same-local-index groups across nodes, TP4
// groups under a shift by 4).
enum class MirrorClass : std::uint8_t { Closed, Shifted };

struct RankMirror {
  int node_size = 0;  // ranks per node when active; 0 when the symmetry does not hold
  int shift = 1;      // d: the first d ranks of each node are simulated
  std::string refusal;  // why not active (empty when active)
  // Per op: the leader's op whose timing it takes (-1 for a leader's own ops); empty when not active.
  std::vector<model::OpId> source;
  std::vector<MirrorClass> collective_class;  // per collective; empty when not active
  // Per Closed collective: member i's image under sigma is member sigma_member[c][i]; empty for Shifted ones.
  std::vector<std::vector<int>> sigma_member;

  bool active() const { return node_size > 1; }
  bool simulated(int rank) const { return !active() || rank % node_size < shift; }
  int leader_of(int rank) const { return active() ? rank - rank % node_size + rank % node_size % shift : rank; }
  void disable(std::string why);
};

// Tries d = 1, 2, ... (divisors of k = ranks_per_node below k) and keeps the first under which every op, dependency
// and collective equals its image. Inactive (with the reasons) when the graph does not fill whole nodes, or for
// every d some op or collective differs from its image, a collective is neither Closed nor Shifted, a Closed
// collective's sizes are not invariant, or a leader would wait for a later op of its own stream.
RankMirror find_rank_mirror(const model::OpGraph& graph, int ranks_per_node);

}  // namespace moesim::engine

#pragma once
// Mirrored ranks: when the op graph is invariant under shifting every rank's index inside its block of P ranks by d
// (sigma: r -> r - r mod P + (r mod P + d) mod P), rank r runs exactly as r - r mod P + r mod P mod d does, op for
// op. The engine then simulates only the first d ranks of each block (its leaders) and gives every other rank's
// ops their leader's timings. Two kinds of shift:
//  - local: P = k, the ranks of a node, d a divisor of k (1 for node-wide TP groups, 4 for TP4 groups two to a node);
//  - block: P and d multiples of k (whole nodes map onto whole nodes), e.g. P = the ranks of a pipeline stage and d
//    half of them when a skewed expert load makes the ranks of a node unequal but two expert-parallel groups of the
//    stage run alike.
// This file finds out, from the graph alone, whether a shift holds and which op mirrors which; CollectiveRunner adds
// the checks that need plans and routes (per-pair links inside a node, per-rank ports across nodes). docs/engine.md,
// "Mirrored ranks". SimGrid-free.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/op_graph.hpp"

namespace moesim::engine {

// How a collective maps under sigma: onto itself (a node-wide TP group, an all-to-all over whole nodes), or onto
// another collective, when all its members are leaders or none is (same-local-index groups across nodes, TP4
// groups under a shift by 4).
enum class MirrorClass : std::uint8_t { Closed, Shifted };

// The arithmetic of a shift by d inside blocks of P ranks: r's image under sigma, and the leader r runs as.
inline int shifted_rank(int rank, int period, int d) {
  return rank - rank % period + (rank % period + d) % period;
}
inline int leader_rank(int rank, int period, int d) {
  return rank - rank % period + rank % period % d;
}

struct RankMirror {
  int period = 0;       // P: the block of ranks sigma shifts inside when active; 0 when no symmetry holds
  int shift = 1;        // d: the first d ranks of each block are simulated
  int node_size = 0;    // k, ranks per node (in-node flows), when active
  std::string refusal;  // why not active (empty when active)
  // Per op: the leader's op whose timing it takes (-1 for a leader's own ops); empty when not active.
  std::vector<model::OpId> source;
  std::vector<MirrorClass> collective_class;  // per collective; empty when not active
  // Per Closed collective: member i's image under sigma is member sigma_member[c][i]; empty for Shifted ones.
  std::vector<std::vector<int>> sigma_member;

  bool active() const { return period > 1; }
  bool block_shift() const { return active() && period > node_size; }  // whole nodes map onto other nodes
  bool simulated(int rank) const { return !active() || rank % period < shift; }
  int sigma(int rank) const { return active() ? shifted_rank(rank, period, shift) : rank; }
  int leader_of(int rank) const { return active() ? leader_rank(rank, period, shift) : rank; }
  bool same_node(int a, int b) const { return a / node_size == b / node_size; }
  void disable(std::string why);
};

// Tries the local shifts d = 1, 2, ... (divisors of k = ranks_per_node below k), then the block shifts, fewest
// simulated ranks (d / P) first, and keeps the first under which every op, dependency and collective equals its
// image. A per-rank signature (every op's kind, stream, phase, cost and collective shape, in order) rules most shifts
// out in O(ranks); at most a few block shifts get the full check (O(ops + deps) each). Inactive (with the reasons)
// when the graph does not fill whole nodes, or for every shift some op or collective differs from its image, a
// collective is neither Closed nor Shifted, a Closed collective's sizes are not invariant, or a leader would wait
// for a later op of its own stream. `accept`, when given, is asked about each shift that passes: a non-empty answer
// (why the platform or a plan does not allow it) refuses that shift and the search goes on.
using MirrorAcceptor = std::function<std::string(const RankMirror&)>;
RankMirror find_rank_mirror(const model::OpGraph& graph, int ranks_per_node, const MirrorAcceptor& accept = {});

}  // namespace moesim::engine

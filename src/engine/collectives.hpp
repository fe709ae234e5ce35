#pragma once
// The collective library at run time: executes a CollectivePlan inside the calling SimGrid actor. Members meet at
// an arrival barrier (HCCL collectives are synchronising), then each member posts its flows of each phase
// (Mailbox put_async/get_async on mailboxes named per (dst, dst stream, src), at most `window` outstanding, in
// pairwise-round order so windows cannot deadlock), waits, and sleeps latency_steps x alpha.
// SimGrid-free header (pimpl); the implementation is collectives.cpp.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/topology_config.hpp"
#include "engine/platform_builder.hpp"
#include "engine/rank_mirroring.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

struct CommStats {
  std::vector<double> link_bytes;    // per FabricRouter link, bytes of every flow routed over it
  std::uint64_t flows = 0;           // flows simulated by SimGrid
  std::uint64_t analytic_flows = 0;  // flows on dedicated pair links timed analytically (pair_link_flows.hpp)
  std::uint64_t folded_flows = 0;    // mesh flows represented by another flow of their member (mesh_folding.hpp)
  std::uint64_t sleeps = 0;
};

struct CollectiveOptions {
  // Comms (sends + receives) outstanding per actor at most (P1: SimGrid 3.32 pays O(outstanding) per completion).
  std::size_t window = 128;
  bool aggregate_cross_node = false;   // merge cross-node flows where link loads stay equal (flow_aggregation.hpp)
  bool analytic_pair_links = false;    // time flows alone on dedicated pair links without SimGrid (pair_link_flows.hpp)
  bool fold_symmetric_meshes = false;  // one flow per member for uniform mesh phases (mesh_folding.hpp)
  // Mirrored ranks (rank_mirroring.hpp): when set, the runner looks for a shift the graph, the platform and every
  // plan allow and stores it here (inactive, with the reasons, when none does); then only the simulated members
  // run. Null: every member runs.
  RankMirror* mirror = nullptr;
};

class CollectiveRunner {
 public:
  // member_streams[c][i]: stream of member i's op of collective c (receivers' mailboxes are per stream). Throws
  // std::invalid_argument when a collective's pairs are not routable on its plane.
  CollectiveRunner(const Platform& platform, const config::TopologyConfig& topology, const model::OpGraph& graph,
                   std::vector<std::vector<int>> member_streams, CommStats& stats, const CollectiveOptions& options);
  ~CollectiveRunner();
  CollectiveRunner(const CollectiveRunner&) = delete;
  CollectiveRunner& operator=(const CollectiveRunner&) = delete;

  // Contract: called from the actor of member `member` of collective `index`, exactly once per collective.
  void run(int index, int member);
  // Members that reached collective `index` so far (for deadlock reports); 0 when not started or finished.
  int arrived(int index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::engine

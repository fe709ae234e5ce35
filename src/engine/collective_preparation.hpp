#pragma once
// Collectives prepared for the runner (collectives.cpp), SimGrid-free: identical collectives of the graph (same
// group, kind, sizes: every micro-batch repeats the same ones) found once and sharing one prepared plan, built at
// the first arrival and dropped after the last; per phase, each member's flows in posting order (phase_posting.hpp),
// the flows timed analytically (pair_link_flows.hpp), mesh folding (mesh_folding.hpp) and, with mirrored ranks,
// each flow's receiver and each member's proxy receives (mirror_flows.hpp).
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/topology_config.hpp"
#include "engine/collective_plan.hpp"
#include "engine/collectives.hpp"
#include "engine/mesh_folding.hpp"
#include "engine/pair_link_flows.hpp"
#include "engine/phase_posting.hpp"
#include "engine/platform_builder.hpp"
#include "engine/rank_mirroring.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

struct PreparedCollective {
  CollectivePlan plan;
  int plane = 0;
  // per phase: offsets[member]..offsets[member+1] into order; entries are flow index * 2 + (1 if receive)
  std::vector<std::vector<int>> offsets;
  std::vector<std::vector<int>> order;
  std::vector<AnalyticFlows> analytic;                      // per phase: flows timed analytically
  std::vector<std::pair<int, double>> analytic_link_bytes;  // (link, bytes) carried by the analytic flows
  std::uint64_t analytic_flows = 0;
  std::uint64_t folded_flows = 0;
  // Mirrored ranks: per phase, per flow, its receiving member, kNoReceiver or kNotSimulated (mirror_flows.hpp);
  // empty when every member runs.
  std::vector<std::vector<int>> receivers;
  // Mirrored ranks: per phase, per member, the proxy receives it waits for (mirror_flows.hpp); empty when none.
  std::vector<std::vector<int>> proxy_expected;
};

class CollectivePreparer {
 public:
  // Sizes stats.link_bytes; with mirrored ranks on (and allowed by every plan) fills it for the whole graph, since
  // mirrored ranks post no flows.
  CollectivePreparer(const Platform& platform, const config::TopologyConfig& topology, const model::OpGraph& graph,
                     const std::vector<std::vector<int>>& member_streams, CommStats& stats,
                     const CollectiveOptions& options);

  // The prepared form of collective `index`; call once per arrival of its first member.
  std::shared_ptr<const PreparedCollective> take(int index);
  // The mirror when mirrored ranks are on and every collective allows them, else null.
  const RankMirror* mirror() const { return mirror_; }
  // Comms outstanding per actor at most: CollectiveOptions::window, at least 2.
  std::size_t window() const { return window_; }
  PlanContext context(const model::Collective& c) const;
  template <class Add>
  Route for_each_link(int plane, const model::Collective& c, const CollectivePhase& phase, const PlannedFlow& flow,
                      Add&& add) const {
    return for_each_flow_link(*platform_.router, plane, c, phase, flow, std::forward<Add>(add));
  }

 private:
  struct CacheEntry {
    std::shared_ptr<const PreparedCollective> prepared;
    int uses_left = 0;
  };
  void find_identical_collectives();
  // Plans every distinct collective at the first call; later calls return the same plans.
  using DistinctPlans = std::function<const std::vector<PlannedCollective>&()>;
  void find_mirror(RankMirror& m, const DistinctPlans& plan_distinct);
  std::string mirror_refusal(const RankMirror& m, const std::vector<PlannedCollective>& distinct) const;
  std::shared_ptr<const PreparedCollective> prepare(const model::Collective& c) const;

  const Platform& platform_;
  const config::TopologyConfig& topology_;
  const model::OpGraph& graph_;
  CommStats& stats_;
  std::size_t window_;
  bool aggregate_cross_node_;
  std::vector<char> foldable_;           // per pair-link domain (mesh_folding.hpp); empty when folding is off
  std::vector<char> exclusive_sources_;  // per rank (pair_link_flows.hpp); all 0 when analytic flows are off
  std::vector<int> representative_;      // per collective: the first identical one
  std::vector<int> uses_;                // per representative: how many collectives it stands for
  std::unordered_map<int, CacheEntry> cache_;
  const RankMirror* mirror_ = nullptr;
};

}  // namespace moesim::engine

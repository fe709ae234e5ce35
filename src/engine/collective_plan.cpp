#include "engine/collective_plan.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "engine/collective_algorithms.hpp"
#include "engine/flow_aggregation.hpp"

namespace moesim::engine {

using config::FabricKind;
using detail::Flat;
using model::CollectiveAlgorithm;
using model::CollectiveKind;

namespace {

constexpr std::size_t kSwitchDirectMaxGroup = 16;  // above this, ring on a switch (fewer flows, same bandwidth)

// Members grouped by node, in group order within a node; nodes in order of first appearance.
struct NodeLayout {
  std::vector<std::vector<int>> nodes;  // member indices
  bool regular = false;                 // every node holds the same number of members
  std::size_t per_node() const { return nodes.empty() ? 0 : nodes.front().size(); }
};

NodeLayout node_layout(const model::Collective& c, int ranks_per_node) {
  NodeLayout layout;
  std::map<int, std::size_t> slot;
  for (std::size_t i = 0; i < c.ranks.size(); ++i) {
    const int node = c.ranks[i] / ranks_per_node;
    auto [it, inserted] = slot.emplace(node, layout.nodes.size());
    if (inserted) layout.nodes.emplace_back();
    layout.nodes[it->second].push_back(static_cast<int>(i));
  }
  layout.regular = std::all_of(layout.nodes.begin(), layout.nodes.end(),
                               [&](const auto& n) { return n.size() == layout.nodes.front().size(); });
  return layout;
}

FabricKind pair_kind(const PlanContext& ctx, int rank_a, int rank_b) {
  Route route;
  if (rank_a != rank_b && ctx.router.route(ctx.plane, rank_a, rank_b, route) && route.fabric >= 0) {
    return ctx.topology.fabrics[static_cast<std::size_t>(route.fabric)].kind;
  }
  return FabricKind::Clos;
}

// Flat algorithm for a subgroup whose slowest pair is (a, b): all-pairs on a mesh or small switch, ring otherwise.
Flat flat_auto(CollectiveKind kind, const PlanContext& ctx, int rank_a, int rank_b, std::size_t group) {
  if (kind == CollectiveKind::AllToAll || kind == CollectiveKind::AllToAllV) return Flat::Direct;
  const FabricKind fabric = pair_kind(ctx, rank_a, rank_b);
  if (fabric == FabricKind::FullMesh) return Flat::Direct;
  if (fabric == FabricKind::Switch && group <= kSwitchDirectMaxGroup) return Flat::Direct;
  return Flat::Ring;
}

Flat to_flat(CollectiveAlgorithm algorithm) {
  switch (algorithm) {
    case CollectiveAlgorithm::Ring:
      return Flat::Ring;
    case CollectiveAlgorithm::HalvingDoubling:
      return Flat::HalvingDoubling;
    default:
      return Flat::Direct;
  }
}

CollectiveAlgorithm from_flat(Flat flat) {
  switch (flat) {
    case Flat::Ring:
      return CollectiveAlgorithm::Ring;
    case Flat::HalvingDoubling:
      return CollectiveAlgorithm::HalvingDoubling;
    default:
      return CollectiveAlgorithm::Direct;
  }
}

std::vector<int> iota_members(std::size_t p) {
  std::vector<int> m(p);
  for (std::size_t i = 0; i < p; ++i) m[i] = static_cast<int>(i);
  return m;
}

double matrix_bytes(const model::Collective& c, int i, int j) {
  const std::size_t p = c.ranks.size();
  if (c.kind == CollectiveKind::AllToAllV) {
    return c.per_pair_elements[static_cast<std::size_t>(i) * p + static_cast<std::size_t>(j)] *
           config::bytes_per_element(c.dtype);
  }
  return c.bytes() / static_cast<double>(p);
}

bool hierarchical_fits(const model::Collective& c, const NodeLayout& layout) {
  return c.kind != CollectiveKind::SendRecv && layout.nodes.size() >= 2 && layout.regular && layout.per_node() >= 2;
}

std::vector<CollectivePhase> hierarchical_phases(const model::Collective& c, const NodeLayout& layout,
                                                 const PlanContext& ctx) {
  const std::size_t nodes = layout.nodes.size();
  const std::size_t per_node = layout.per_node();
  const double s = c.bytes();
  const auto& first = layout.nodes.front();
  const Flat intra = flat_auto(c.kind, ctx, c.ranks[first[0]], c.ranks[first[1]], per_node);
  std::vector<std::vector<int>> columns(per_node);  // same local index across nodes
  for (std::size_t l = 0; l < per_node; ++l) {
    for (const auto& node : layout.nodes) columns[l].push_back(node[l]);
  }
  auto over = [](const std::vector<std::vector<int>>& groups, auto&& make) {
    std::vector<std::vector<CollectivePhase>> lists;
    for (const auto& g : groups) lists.push_back(make(g));
    return detail::merge_parallel(lists);
  };
  auto stage = [&](const std::vector<std::vector<int>>& groups, CollectiveKind kind, Flat alg, double bytes) {
    return over(groups, [&](const std::vector<int>& g) { return detail::flat_phases(kind, alg, g, bytes, 0); });
  };
  std::vector<CollectivePhase> out;
  auto append = [&](std::vector<CollectivePhase> more) { out.insert(out.end(), more.begin(), more.end()); };
  const double share = s / static_cast<double>(per_node);
  switch (c.kind) {
    case CollectiveKind::AllReduce:
      append(stage(layout.nodes, CollectiveKind::ReduceScatter, intra, s));
      append(stage(columns, CollectiveKind::AllReduce, Flat::Ring, share));
      append(stage(layout.nodes, CollectiveKind::AllGather, intra, s));
      break;
    case CollectiveKind::ReduceScatter:
      append(stage(layout.nodes, CollectiveKind::ReduceScatter, intra, s));
      append(stage(columns, CollectiveKind::ReduceScatter, Flat::Ring, share));
      break;
    case CollectiveKind::AllGather:
      append(stage(columns, CollectiveKind::AllGather, Flat::Ring, share));
      append(stage(layout.nodes, CollectiveKind::AllGather, intra, s));
      break;
    case CollectiveKind::Broadcast: {
      std::size_t root_node = 0, root_local = 0;
      for (std::size_t n = 0; n < nodes; ++n) {
        for (std::size_t l = 0; l < per_node; ++l) {
          if (layout.nodes[n][l] == c.root) root_node = n, root_local = l;
        }
      }
      append(detail::flat_phases(CollectiveKind::Broadcast, Flat::Ring, columns[root_local], s,
                                 static_cast<int>(root_node)));
      append(over(layout.nodes, [&](const std::vector<int>& g) {
        return detail::flat_phases(CollectiveKind::Broadcast, intra, g, s, static_cast<int>(root_local));
      }));
      break;
    }
    default: {  // AllToAll(V): intra-node regroup by destination local index, then inter-node among columns
      std::vector<std::size_t> node_of(c.ranks.size());
      for (std::size_t n = 0; n < nodes; ++n) {
        for (int member : layout.nodes[n]) node_of[static_cast<std::size_t>(member)] = n;
      }
      append(over(layout.nodes, [&](const std::vector<int>& g) {
        return detail::alltoallv_phases(intra, g, [&](int i, int j) {  // to every node's member at local index j
          double sum = 0.0;
          for (std::size_t m = 0; m < nodes; ++m) sum += matrix_bytes(c, g[i], layout.nodes[m][j]);
          return sum;
        });
      }));
      append(over(columns, [&](const std::vector<int>& g) {
        return detail::alltoallv_phases(Flat::Direct, g, [&](int i, int j) {  // from every local member of node i
          double sum = 0.0;
          for (int src : layout.nodes[node_of[g[i]]]) sum += matrix_bytes(c, src, g[j]);
          return sum;
        });
      }));
    }
  }
  return out;
}

}  // namespace

CollectiveAlgorithm resolve_algorithm(const model::Collective& c, const PlanContext& ctx) {
  const std::size_t p = c.ranks.size();
  if (p < 2 || c.kind == CollectiveKind::SendRecv) return CollectiveAlgorithm::Direct;
  const NodeLayout layout = node_layout(c, ctx.ranks_per_node);
  const bool a2a = c.kind == CollectiveKind::AllToAll || c.kind == CollectiveKind::AllToAllV;
  switch (c.algorithm) {
    case CollectiveAlgorithm::Auto: {
      if (!a2a && hierarchical_fits(c, layout)) return CollectiveAlgorithm::Hierarchical;
      // Slowest pair: across nodes when the group spans several.
      const int b = layout.nodes.size() > 1 ? c.ranks[static_cast<std::size_t>(layout.nodes[1][0])] : c.ranks[1];
      return from_flat(flat_auto(c.kind, ctx, c.ranks[0], b, p));
    }
    case CollectiveAlgorithm::HalvingDoubling:
      if (a2a) return CollectiveAlgorithm::Direct;
      return detail::is_power_of_two(p) ? c.algorithm : CollectiveAlgorithm::Ring;
    case CollectiveAlgorithm::Hierarchical:
      if (hierarchical_fits(c, layout)) return c.algorithm;
      {  // single node, one member per node or uneven nodes: the flat algorithm Auto would pick
        model::Collective flat = c;
        flat.algorithm = CollectiveAlgorithm::Auto;
        return resolve_algorithm(flat, ctx);
      }
    default:
      return c.algorithm;
  }
}

CollectivePlan plan_collective(const model::Collective& c, const PlanContext& ctx) {
  CollectivePlan plan;
  plan.algorithm = resolve_algorithm(c, ctx);
  const std::size_t p = c.ranks.size();
  if (plan.algorithm == CollectiveAlgorithm::Hierarchical) {
    plan.phases = hierarchical_phases(c, node_layout(c, ctx.ranks_per_node), ctx);
  } else if (c.kind == CollectiveKind::AllToAllV || c.kind == CollectiveKind::AllToAll) {
    plan.phases = detail::alltoallv_phases(to_flat(plan.algorithm), iota_members(p),
                                           [&](int i, int j) { return matrix_bytes(c, i, j); });
  } else {
    plan.phases = detail::flat_phases(c.kind, to_flat(plan.algorithm), iota_members(p), c.bytes(), c.root);
  }
  for (CollectivePhase& phase : plan.phases) {
    if (ctx.aggregate_cross_node) aggregate_cross_node_flows(phase, c, ctx);
    for (const PlannedFlow& flow : phase.flows) {
      const Route route = ctx.router.route_or_throw(ctx.plane, c.ranks[static_cast<std::size_t>(flow.src)],
                                                    c.ranks[static_cast<std::size_t>(flow.dst)]);
      phase.alpha_s = std::max(phase.alpha_s, route.latency_s);
    }
  }
  return plan;
}

void check_routable(const model::Collective& c, int index, const PlanContext& ctx) {
  // Routability depends only on whether a pair shares a node: test each member against the first one, and one
  // same-node pair and one cross-node pair.
  Route route;
  const int first = c.ranks.front();
  for (std::size_t i = 1; i < c.ranks.size(); ++i) {
    const int other = c.ranks[i];
    if (!ctx.router.route(ctx.plane, first, other, route) || !ctx.router.route(ctx.plane, other, first, route)) {
      std::string why = c.fabric.empty() ? "no fabric connects them" : "fabric '" + c.fabric + "' does not reach";
      throw std::invalid_argument("collective " + std::to_string(index) + " (" + model::to_string(c.kind) +
                                  "): ranks " + std::to_string(first) + " and " + std::to_string(other) + ": " + why);
    }
  }
}

}  // namespace moesim::engine

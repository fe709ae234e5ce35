#include "engine/collective_preparation.hpp"

#include <algorithm>

#include "engine/mirror_flows.hpp"

namespace moesim::engine {

CollectivePreparer::CollectivePreparer(const Platform& platform, const config::TopologyConfig& topology,
                                       const model::OpGraph& graph, const std::vector<std::vector<int>>& member_streams,
                                       CommStats& stats, const CollectiveOptions& options)
    : platform_(platform),
      topology_(topology),
      graph_(graph),
      stats_(stats),
      window_(std::max<std::size_t>(options.window, 2)),
      aggregate_cross_node_(options.aggregate_cross_node) {
  stats_.link_bytes.assign(platform_.router->links().size(), 0.0);
  // Every collective's group must be routable before anything is planned (a clear error, not a planner's).
  for (std::size_t i = 0; i < graph_.collectives.size(); ++i) {
    check_routable(graph_.collectives[i], static_cast<int>(i), context(graph_.collectives[i]));
  }
  exclusive_sources_ = options.analytic_pair_links
                           ? exclusive_pair_link_sources(*platform_.router, graph_, member_streams)
                           : std::vector<char>(static_cast<std::size_t>(graph_.num_ranks), 0);
  find_identical_collectives();
  const bool fold = options.fold_symmetric_meshes && platform_.router->pair_link_domain() > 0;
  const bool mirrored = options.mirror != nullptr;
  if (!fold && !mirrored) return;
  // Every distinct collective planned once for both analyses (the plans are dropped again); for mirrored ranks
  // alone only when some shift passes the graph check.
  std::vector<CollectivePlan> plans;
  std::vector<PlannedCollective> distinct;
  auto plan_distinct = [&]() -> const std::vector<PlannedCollective>& {
    if (!distinct.empty() || graph_.collectives.empty()) return distinct;
    for (std::size_t i = 0; i < graph_.collectives.size(); ++i) {
      if (representative_[i] != static_cast<int>(i)) continue;
      const model::Collective& c = graph_.collectives[i];
      const PlanContext ctx = context(c);
      plans.push_back(plan_collective(c, ctx));
      distinct.push_back({&c, nullptr, ctx.plane});
    }
    for (std::size_t i = 0; i < distinct.size(); ++i) distinct[i].plan = &plans[i];
    return distinct;
  };
  if (fold) foldable_ = foldable_domains(*platform_.router, graph_.num_ranks, plan_distinct(), window_);
  if (mirrored) find_mirror(*options.mirror, plan_distinct);
}

PlanContext CollectivePreparer::context(const model::Collective& c) const {
  const int plane = c.fabric.empty() ? 0 : platform_.router->plane_of(c.fabric);
  return PlanContext{*platform_.router, plane, topology_.ranks_per_node(), topology_, aggregate_cross_node_};
}

// Mirrored ranks need a shift under which the graph, the platform and every distinct collective's plan are
// symmetric (mirror_flows.hpp); the first that all allow is kept. When one is, link bytes are counted here for every
// flow of every collective (they do not depend on timing), since mirrored ranks post none.
void CollectivePreparer::find_mirror(RankMirror& m, const DistinctPlans& plan_distinct) {
  m = find_rank_mirror(graph_, topology_.ranks_per_node(),
                       [&](const RankMirror& candidate) { return mirror_refusal(candidate, plan_distinct()); });
  if (!m.active()) return;
  std::vector<double> link_bytes(stats_.link_bytes.size(), 0.0);
  for (const PlannedCollective& d : plan_distinct()) {
    const model::Collective& c = *d.collective;
    const auto i = static_cast<std::size_t>(&c - graph_.collectives.data());
    const double times = uses_[i];
    for (const CollectivePhase& phase : d.plan->phases) {
      for (const PlannedFlow& flow : phase.flows) {
        for_each_link(d.plane, c, phase, flow,
                      [&](int link, double b) { link_bytes[static_cast<std::size_t>(link)] += b * times; });
      }
    }
  }
  stats_.link_bytes = std::move(link_bytes);
  mirror_ = &m;
}

std::string CollectivePreparer::mirror_refusal(const RankMirror& m,
                                               const std::vector<PlannedCollective>& distinct) const {
  std::string refusal = mirror_platform_refusal(m, *platform_.router);
  for (std::size_t k = 0; refusal.empty() && k < distinct.size(); ++k) {
    const model::Collective& c = *distinct[k].collective;
    const auto i = static_cast<int>(&c - graph_.collectives.data());
    refusal = mirror_plan_refusal(c, i, *distinct[k].plan, distinct[k].plane, m, *platform_.router, window_);
  }
  return refusal;
}

std::shared_ptr<const PreparedCollective> CollectivePreparer::prepare(const model::Collective& c) const {
  auto out = std::make_shared<PreparedCollective>();
  const PlanContext ctx = context(c);
  out->plane = ctx.plane;
  out->plan = plan_collective(c, ctx);
  out->folded_flows = fold_mesh_flows(out->plan, c, *platform_.router, out->plane, foldable_, window_);
  const int p = static_cast<int>(c.ranks.size());
  const std::size_t phases = out->plan.phases.size();
  out->offsets.resize(phases);
  out->order.resize(phases);
  out->analytic.resize(phases);
  bool synchronized = true;  // every member starts phase 0 at the barrier's release
  for (std::size_t k = 0; k < phases; ++k) {
    const CollectivePhase& phase = out->plan.phases[k];
    out->analytic[k] =
        analytic_pair_link_flows(phase, c, *platform_.router, out->plane, exclusive_sources_, synchronized);
    synchronized = synchronized && keeps_members_synchronized(phase, out->analytic[k]);
    for (std::size_t f = 0; f < phase.flows.size(); ++f) {
      if (!out->analytic[k].analytic[f]) continue;
      for_each_link(out->plane, c, phase, phase.flows[f], [&](int link, double bytes) {
        out->analytic_link_bytes.push_back({link, bytes});
      });
      ++out->analytic_flows;
    }
    if (mirror_ != nullptr) {
      out->receivers.push_back(mirrored_receivers(c, phase, out->plane, *mirror_, *platform_.router));
      std::vector<int> expected(static_cast<std::size_t>(p), 0);
      bool any = false;
      for (std::size_t f = 0; f < phase.flows.size(); ++f) {
        const int code = out->receivers[k][f];
        if (!is_proxy_receiver(code) || out->analytic[k].analytic[f]) continue;
        ++expected[static_cast<std::size_t>(proxy_member(code))];
        any = true;
      }
      if (any && out->proxy_expected.empty()) out->proxy_expected.resize(phases);
      if (any) out->proxy_expected[k] = std::move(expected);
    }
    index_phase(phase, out->analytic[k].analytic, mirror_ != nullptr ? out->receivers[k] : std::vector<int>{}, p,
                out->offsets[k], out->order[k]);
  }
  return out;
}

std::shared_ptr<const PreparedCollective> CollectivePreparer::take(int index) {
  const int rep = representative_[static_cast<std::size_t>(index)];
  auto it = cache_.find(rep);
  if (it == cache_.end()) {
    it = cache_
             .emplace(rep, CacheEntry{prepare(graph_.collectives[static_cast<std::size_t>(index)]),
                                      uses_[static_cast<std::size_t>(rep)]})
             .first;
  }
  auto out = it->second.prepared;
  if (--it->second.uses_left == 0) cache_.erase(it);
  return out;
}

void CollectivePreparer::find_identical_collectives() {
  const std::size_t n = graph_.collectives.size();
  representative_.resize(n);
  uses_.assign(n, 0);
  std::unordered_map<std::uint64_t, std::vector<int>> seen;  // hash -> representatives
  for (std::size_t i = 0; i < n; ++i) {
    const model::Collective& c = graph_.collectives[i];
    auto& bucket = seen[collective_hash(c)];
    int rep = static_cast<int>(i);
    for (int candidate : bucket) {
      if (same_collective(graph_.collectives[static_cast<std::size_t>(candidate)], c)) rep = candidate;
    }
    if (rep == static_cast<int>(i)) bucket.push_back(rep);
    representative_[i] = rep;
    ++uses_[static_cast<std::size_t>(rep)];
  }
}

}  // namespace moesim::engine

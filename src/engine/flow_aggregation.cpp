#include "engine/flow_aggregation.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace moesim::engine {

namespace {

constexpr double kRelativeTolerance = 1e-9;

bool endpoint_port_route(const PlanContext& ctx, const Route& route) {
  if (route.fabric < 0 || route.rate_bound_bytes_per_s > 0.0) return false;
  const config::FabricKind kind = ctx.topology.fabrics[static_cast<std::size_t>(route.fabric)].kind;
  return kind == config::FabricKind::Clos || kind == config::FabricKind::Switch;
}

}  // namespace

bool aggregate_cross_node_flows(CollectivePhase& phase, const model::Collective& c, const PlanContext& ctx) {
  const std::size_t p = c.ranks.size();
  if (p < 4 || ctx.ranks_per_node < 2) return false;
  // Node slot (order of first appearance) and local index (order within the node) of every member.
  std::map<int, std::size_t> slot;
  std::vector<std::size_t> node_of(p), local_of(p), count;
  std::vector<std::vector<int>> member_at;
  for (std::size_t i = 0; i < p; ++i) {
    auto [it, inserted] = slot.emplace(c.ranks[i] / ctx.ranks_per_node, count.size());
    if (inserted) {
      count.push_back(0);
      member_at.emplace_back();
    }
    node_of[i] = it->second;
    local_of[i] = count[it->second]++;
    member_at[it->second].push_back(static_cast<int>(i));
  }
  const std::size_t nodes = count.size();
  const std::size_t per = count.front();
  if (nodes < 2 || per < 2 || std::any_of(count.begin(), count.end(), [&](std::size_t n) { return n != per; })) {
    return false;
  }
  auto cell = [&](std::size_t m, std::size_t n, std::size_t l) { return (m * nodes + n) * per + l; };
  std::vector<double> row(nodes * nodes * per, 0.0), col(nodes * nodes * per, 0.0);
  std::size_t cross_flows = 0;
  Route route;
  for (const PlannedFlow& f : phase.flows) {
    const auto s = static_cast<std::size_t>(f.src), d = static_cast<std::size_t>(f.dst);
    if (node_of[s] == node_of[d]) continue;
    if (!ctx.router.route(ctx.plane, c.ranks[s], c.ranks[d], route) || !endpoint_port_route(ctx, route)) return false;
    row[cell(node_of[s], node_of[d], local_of[s])] += f.bytes;
    col[cell(node_of[s], node_of[d], local_of[d])] += f.bytes;
    ++cross_flows;
  }
  std::size_t merged = 0;
  for (std::size_t k = 0; k < row.size(); ++k) {
    if (std::abs(row[k] - col[k]) > kRelativeTolerance * std::max(row[k], col[k])) return false;
    if (row[k] > 0.0) ++merged;
  }
  if (merged == cross_flows) return false;  // nothing to gain
  std::vector<PlannedFlow> flows;
  flows.reserve(phase.flows.size() - cross_flows + merged);
  for (const PlannedFlow& f : phase.flows) {
    if (node_of[static_cast<std::size_t>(f.src)] == node_of[static_cast<std::size_t>(f.dst)]) flows.push_back(f);
  }
  for (std::size_t m = 0; m < nodes; ++m) {
    for (std::size_t l = 0; l < per; ++l) {
      for (std::size_t n = 0; n < nodes; ++n) {
        const double bytes = n == m ? 0.0 : row[cell(m, n, l)];
        if (bytes > 0.0) flows.push_back({member_at[m][l], member_at[n][l], bytes});
      }
    }
  }
  phase.flows = std::move(flows);
  return true;
}

}  // namespace moesim::engine

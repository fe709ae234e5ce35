#include "engine/pair_link_flows.hpp"

#include <algorithm>
#include <cmath>

namespace moesim::engine {

std::vector<char> exclusive_pair_link_sources(const FabricRouter& router, const model::OpGraph& graph,
                                              const std::vector<std::vector<int>>& member_streams) {
  constexpr int kNone = -1, kConflict = -2;
  const int domain = router.pair_link_domain();
  std::vector<int> stream_of(static_cast<std::size_t>(graph.num_ranks), kNone);
  if (domain > 0) {
    std::vector<int> domains;
    for (std::size_t c = 0; c < graph.collectives.size(); ++c) {
      const auto& ranks = graph.collectives[c].ranks;
      domains.clear();
      for (int r : ranks) domains.push_back(r / domain);
      std::sort(domains.begin(), domains.end());
      for (std::size_t m = 0; m < ranks.size(); ++m) {
        const auto [lo, hi] = std::equal_range(domains.begin(), domains.end(), ranks[m] / domain);
        if (hi - lo < 2) continue;  // no other member can share a pair link with this one
        int& seen = stream_of[static_cast<std::size_t>(ranks[m])];
        const int stream = member_streams[c][m];
        seen = seen == kNone || seen == stream ? stream : kConflict;
      }
    }
  }
  std::vector<char> exclusive(stream_of.size(), 0);
  for (std::size_t r = 0; r < stream_of.size(); ++r) exclusive[r] = domain > 0 && stream_of[r] != kConflict;
  return exclusive;
}

AnalyticFlows analytic_pair_link_flows(const CollectivePhase& phase, const model::Collective& collective,
                                       const FabricRouter& router, int plane, const std::vector<char>& exclusive,
                                       bool synchronized) {
  AnalyticFlows out;
  out.analytic.assign(phase.flows.size(), 0);
  out.wait_s.assign(collective.ranks.size(), 0.0);
  if (!synchronized || router.pair_link_domain() == 0) return out;
  // Pair links carry one (src, dst) pair each: bytes of one phase add up per pair (plans have one flow per pair,
  // but nothing here relies on it).
  struct Use {
    int link, src, dst;
    double bytes;
  };
  std::vector<Use> uses;
  Route route;
  for (std::size_t f = 0; f < phase.flows.size(); ++f) {
    const PlannedFlow& flow = phase.flows[f];
    const int src = collective.ranks[static_cast<std::size_t>(flow.src)];
    const int dst = collective.ranks[static_cast<std::size_t>(flow.dst)];
    if (!exclusive[static_cast<std::size_t>(src)] || !router.route(plane, src, dst, route)) continue;
    if (!router.is_dedicated_pair_link(route)) continue;
    const int link = route.links[0];
    out.analytic[f] = 1;
    out.any = true;
    uses.push_back({link, flow.src, flow.dst, flow.bytes});
  }
  std::sort(uses.begin(), uses.end(), [](const Use& a, const Use& b) { return a.link < b.link; });
  for (std::size_t i = 0; i < uses.size();) {
    double bytes = 0.0;
    std::size_t j = i;
    for (; j < uses.size() && uses[j].link == uses[i].link; ++j) bytes += uses[j].bytes;
    const double seconds = bytes / router.links()[static_cast<std::size_t>(uses[i].link)].bandwidth_bytes_per_s;
    auto& src_wait = out.wait_s[static_cast<std::size_t>(uses[i].src)];
    auto& dst_wait = out.wait_s[static_cast<std::size_t>(uses[i].dst)];
    src_wait = std::max(src_wait, seconds);
    dst_wait = std::max(dst_wait, seconds);
    i = j;
  }
  return out;
}

bool keeps_members_synchronized(const CollectivePhase& phase, const AnalyticFlows& flows) {
  if (!std::all_of(flows.analytic.begin(), flows.analytic.end(), [](char a) { return a != 0; })) return false;
  if (phase.flows.empty() || flows.wait_s.empty()) return true;
  const double first = flows.wait_s.front();
  return std::all_of(flows.wait_s.begin(), flows.wait_s.end(),
                     [&](double w) { return std::abs(w - first) <= 1e-12 * std::max(1.0, std::abs(first)); });
}

}  // namespace moesim::engine

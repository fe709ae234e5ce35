#include "engine/mesh_folding.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace moesim::engine {

namespace {

constexpr double kRelativeTolerance = 1e-9;

// The pair-link flows of one phase inside one domain.
struct DomainPhase {
  int domain = 0;
  std::vector<int> members;        // member indices the flows connect, sorted
  std::vector<std::size_t> flows;  // indices into the phase's flows
  double bytes = 0.0;
  bool uniform = false;           // exactly one flow per ordered pair of `members`, all of the same bytes
  bool started_together = false;  // every member of the collective in the domain starts the phase at once
};

bool complete_uniform_mesh(const CollectivePhase& phase, DomainPhase& use) {
  for (std::size_t f : use.flows) {
    use.members.push_back(phase.flows[f].src);
    use.members.push_back(phase.flows[f].dst);
  }
  std::sort(use.members.begin(), use.members.end());
  use.members.erase(std::unique(use.members.begin(), use.members.end()), use.members.end());
  const std::size_t n = use.members.size();
  use.bytes = phase.flows[use.flows.front()].bytes;
  if (use.flows.size() != n * (n - 1)) return false;
  std::vector<char> seen(n * n, 0);
  auto index = [&](int member) {
    return static_cast<std::size_t>(std::lower_bound(use.members.begin(), use.members.end(), member) -
                                    use.members.begin());
  };
  for (std::size_t f : use.flows) {
    const PlannedFlow& flow = phase.flows[f];
    char& pair = seen[index(flow.src) * n + index(flow.dst)];
    if (pair || std::abs(flow.bytes - use.bytes) > kRelativeTolerance * std::max(flow.bytes, use.bytes)) return false;
    pair = 1;
  }
  return true;
}

// Calls visit(phase index, DomainPhase) for every domain with pair-link flows in a phase, in phase order, knowing
// whether the domain's members start that phase together: all do at phase 0 (the arrival barrier's release); they
// still do at the next phase when each of them had exactly the phase's uniform mesh flows (all end at once) or no
// flow at all. A member posting more than `window` comms in a phase starts some of them later: not uniform.
template <class Visit>
void walk_domains(const CollectivePlan& plan, const model::Collective& c, const FabricRouter& router, int plane,
                  std::size_t window, Visit&& visit) {
  const int size = router.pair_link_domain();
  if (size <= 0) return;
  std::map<int, std::vector<int>> in_domain;  // domain -> the collective's members there, sorted
  for (std::size_t m = 0; m < c.ranks.size(); ++m) in_domain[c.ranks[m] / size].push_back(static_cast<int>(m));
  std::map<int, char> together;
  for (const auto& entry : in_domain) together[entry.first] = 1;
  Route route;
  for (std::size_t k = 0; k < plan.phases.size(); ++k) {
    const CollectivePhase& phase = plan.phases[k];
    std::map<int, DomainPhase> uses;
    std::set<int> other;                                 // domains where a member has a flow that is not on a pair link
    std::vector<std::size_t> posted(c.ranks.size(), 0);  // sends + receives per member
    for (const PlannedFlow& flow : phase.flows) {
      ++posted[static_cast<std::size_t>(flow.src)];
      ++posted[static_cast<std::size_t>(flow.dst)];
    }
    for (std::size_t f = 0; f < phase.flows.size(); ++f) {
      const int src = c.ranks[static_cast<std::size_t>(phase.flows[f].src)];
      const int dst = c.ranks[static_cast<std::size_t>(phase.flows[f].dst)];
      if (!router.route(plane, src, dst, route) || !router.is_dedicated_pair_link(route)) {
        other.insert(src / size);
        other.insert(dst / size);
        continue;
      }
      DomainPhase& use = uses[src / size];
      use.domain = src / size;
      use.flows.push_back(f);
    }
    for (auto& [domain, use] : uses) {
      use.uniform = complete_uniform_mesh(phase, use) &&
                    std::all_of(in_domain[domain].begin(), in_domain[domain].end(),
                                [&](int m) { return posted[static_cast<std::size_t>(m)] <= window; });
      use.started_together = together[domain] != 0;
      visit(k, static_cast<const DomainPhase&>(use));
    }
    for (const auto& [domain, members] : in_domain) {
      const auto it = uses.find(domain);
      if (it != uses.end()) {
        const DomainPhase& use = it->second;
        together[domain] = together[domain] && use.uniform && !other.count(domain) && use.members == members;
      } else if (other.count(domain)) {
        together[domain] = 0;
      }
    }
  }
}

bool disjoint(const std::vector<int>& a, const std::vector<int>& b) {  // both sorted
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) return false;
    a[i] < b[j] ? ++i : ++j;
  }
  return true;
}

}  // namespace

std::vector<char> foldable_domains(const FabricRouter& router, int num_ranks,
                                   const std::vector<PlannedCollective>& collectives, std::size_t window) {
  const int size = router.pair_link_domain();
  if (size <= 0) return {};
  const std::size_t domains = static_cast<std::size_t>((num_ranks + size - 1) / size);
  std::vector<char> ok(domains, 1);
  std::vector<std::vector<std::vector<int>>> sets(domains);  // distinct rank sets S per domain
  for (const PlannedCollective& pc : collectives) {
    const model::Collective& c = *pc.collective;
    walk_domains(*pc.plan, c, router, pc.plane, window, [&](std::size_t, const DomainPhase& use) {
      const auto d = static_cast<std::size_t>(use.domain);
      if (pc.plane != 0 || !use.uniform || !use.started_together) {
        ok[d] = 0;
        return;
      }
      std::vector<int> ranks;
      for (int m : use.members) ranks.push_back(c.ranks[static_cast<std::size_t>(m)]);
      std::sort(ranks.begin(), ranks.end());
      if (std::find(sets[d].begin(), sets[d].end(), ranks) == sets[d].end()) sets[d].push_back(std::move(ranks));
    });
  }
  for (std::size_t d = 0; d < domains; ++d) {
    for (std::size_t a = 0; a < sets[d].size() && ok[d]; ++a) {
      for (std::size_t b = a + 1; b < sets[d].size(); ++b) {
        if (!disjoint(sets[d][a], sets[d][b])) {
          ok[d] = 0;
          break;
        }
      }
    }
  }
  return ok;
}

std::size_t fold_mesh_flows(CollectivePlan& plan, const model::Collective& c, const FabricRouter& router, int plane,
                            const std::vector<char>& foldable, std::size_t window) {
  if (plane != 0 || foldable.empty()) return 0;
  std::vector<std::vector<DomainPhase>> folds(plan.phases.size());
  walk_domains(plan, c, router, plane, window, [&](std::size_t k, const DomainPhase& use) {
    if (use.uniform && use.started_together && use.members.size() > 2 &&
        foldable[static_cast<std::size_t>(use.domain)]) {
      folds[k].push_back(use);
    }
  });
  std::size_t removed = 0;
  for (std::size_t k = 0; k < plan.phases.size(); ++k) {
    if (folds[k].empty()) continue;
    CollectivePhase& phase = plan.phases[k];
    std::vector<char> drop(phase.flows.size(), 0);
    std::vector<PlannedFlow> kept;
    for (const DomainPhase& use : folds[k]) {
      for (std::size_t f : use.flows) drop[f] = 1;
    }
    for (std::size_t f = 0; f < phase.flows.size(); ++f) {
      if (!drop[f]) kept.push_back(phase.flows[f]);
    }
    for (const DomainPhase& use : folds[k]) {
      const int set = static_cast<int>(phase.folded_sets.size());
      phase.folded_sets.push_back(use.members);
      const std::size_t n = use.members.size();
      for (std::size_t i = 0; i < n; ++i) kept.push_back({use.members[i], use.members[(i + 1) % n], use.bytes, set});
      removed += use.flows.size() - n;
    }
    phase.flows = std::move(kept);
  }
  return removed;
}

}  // namespace moesim::engine

#include "engine/mirror_flows.hpp"

#include <cmath>
#include <cstdint>
#include <map>
#include <unordered_map>

namespace moesim::engine {

namespace {

std::unordered_map<int, int> member_positions(const model::Collective& c) {
  std::unordered_map<int, int> at;
  for (std::size_t i = 0; i < c.ranks.size(); ++i) at.emplace(c.ranks[i], static_cast<int>(i));
  return at;
}

// The phase's bytes per (src, dst) member pair are unchanged when sigma permutes the members.
bool invariant(const CollectivePhase& phase, const std::vector<int>& pi) {
  std::map<std::pair<int, int>, double> bytes;
  for (const PlannedFlow& f : phase.flows) bytes[{f.src, f.dst}] += f.bytes;
  for (const auto& [pair, b] : bytes) {
    auto it = bytes.find({pi[static_cast<std::size_t>(pair.first)], pi[static_cast<std::size_t>(pair.second)]});
    if (it == bytes.end() || std::abs(it->second - b) > 1e-12 * std::max(b, 1.0)) return false;
  }
  return true;
}

// A route (across nodes, or over a switch inside one) whose only binding links are the source's and the
// destination's own ports (a Clos leaf uplink at oversubscription <= 1 never binds and is not given to SimGrid).
bool ports_only(const Route& route, const FabricRouter& router) {
  if (route.count < 2) return false;
  for (int i = 1; i + 1 < route.count; ++i) {
    if (router.links()[static_cast<std::size_t>(route.links[static_cast<std::size_t>(i)])].binding) return false;
  }
  return true;
}

// Routes alike: the same fabric, hop count, binding pattern, bandwidths, latency and rate bound.
bool same_route(const Route& a, const Route& b, const FabricRouter& router) {
  if (a.count != b.count || a.fabric != b.fabric || a.latency_s != b.latency_s ||
      a.rate_bound_bytes_per_s != b.rate_bound_bytes_per_s) {
    return false;
  }
  for (int i = 0; i < a.count; ++i) {
    const auto la = static_cast<std::size_t>(a.links[static_cast<std::size_t>(i)]);
    const auto lb = static_cast<std::size_t>(b.links[static_cast<std::size_t>(i)]);
    if (router.links()[la].binding != router.links()[lb].binding ||
        router.links()[la].bandwidth_bytes_per_s != router.links()[lb].bandwidth_bytes_per_s) {
      return false;
    }
  }
  return true;
}

// An in-node flow on a dedicated pair link (HCCS), as opposed to one over ports.
bool on_pair_link(int plane, int src, int dst, const RankMirror& mirror, const FabricRouter& router) {
  Route route;
  return mirror.same_node(src, dst) && router.route(plane, src, dst, route) && router.is_dedicated_pair_link(route);
}

}  // namespace

std::string mirror_platform_refusal(const RankMirror& mirror, const FabricRouter& router) {
  const int n = router.num_ranks();
  const int k = mirror.node_size;
  Route a, b;
  auto differs = [&](int src, int dst) {
    const bool has_a = router.route(0, src, dst, a);
    const bool has_b = router.route(0, mirror.sigma(src), mirror.sigma(dst), b);
    return has_a != has_b || (has_a && !same_route(a, b, router));
  };
  auto pair_text = [](int src, int dst) { return std::to_string(src) + " -> " + std::to_string(dst); };
  for (int node = 0; node + k <= n; node += k) {
    for (int i = node; i < node + k; ++i) {
      for (int j = node; j < node + k; ++j) {
        if (i != j && differs(i, j)) {
          return "the route " + pair_text(i, j) + " differs from its image's (the platform is not symmetric)";
        }
      }
    }
  }
  for (int m = 0; m < n; m += k) {
    for (int o = 0; o < n; o += k) {
      if (m != o && differs(m, o)) {
        return "the route " + pair_text(m, o) + " differs from its image's (the platform is not symmetric)";
      }
    }
  }
  return {};
}

std::vector<int> mirrored_receivers(const model::Collective& c, const CollectivePhase& phase, int plane,
                                    const RankMirror& mirror, const FabricRouter& router) {
  const auto at = member_positions(c);
  std::vector<int> out(phase.flows.size(), kNotSimulated);
  for (std::size_t f = 0; f < phase.flows.size(); ++f) {
    const int src = c.ranks[static_cast<std::size_t>(phase.flows[f].src)];
    const int dst = c.ranks[static_cast<std::size_t>(phase.flows[f].dst)];
    if (!mirror.simulated(src)) continue;
    const int image_receiver = mirror.leader_of(dst);
    if (mirror.simulated(dst)) {
      out[f] = phase.flows[f].dst;
    } else if (on_pair_link(plane, src, dst, mirror, router)) {
      out[f] = image_receiver == src ? kNoReceiver : proxy_receiver_code(at.at(image_receiver));
    } else {
      out[f] = image_receiver == src ? kLoopback : at.at(image_receiver);
    }
  }
  return out;
}

std::string mirror_plan_refusal(const model::Collective& c, int index, const CollectivePlan& plan, int plane,
                                const RankMirror& mirror, const FabricRouter& router, std::size_t window) {
  const std::string name = "collective " + std::to_string(index) + " (" + model::to_string(c.kind) + ")";
  if (plane != 0) return name + " runs on a forced fabric plane";
  const auto cls = mirror.collective_class[static_cast<std::size_t>(index)];
  const auto at = member_positions(c);
  const std::size_t p = c.ranks.size();
  Route direct, redirected;
  for (const CollectivePhase& phase : plan.phases) {
    if (cls == MirrorClass::Closed && !invariant(phase, mirror.sigma_member[static_cast<std::size_t>(index)])) {
      return name + ": its plan is not invariant under the shift of local indices";
    }
    std::vector<std::size_t> full(p, 0), mirrored(p, 0);
    for (const PlannedFlow& f : phase.flows) {
      ++full[static_cast<std::size_t>(f.src)];
      ++full[static_cast<std::size_t>(f.dst)];
      const int src = c.ranks[static_cast<std::size_t>(f.src)];
      const int dst = c.ranks[static_cast<std::size_t>(f.dst)];
      if (!mirror.simulated(src)) continue;
      ++mirrored[static_cast<std::size_t>(f.src)];
      router.route(plane, src, dst, direct);
      const int to = mirror.leader_of(dst);
      if (at.find(to) == at.end()) return name + ": the leader that receives a flow's image is not a member";
      if (mirror.same_node(src, dst) && router.is_dedicated_pair_link(direct)) {
        if (!mirror.same_node(to, src)) return name + ": an in-node flow's image leader is in another node";
        if (to == dst) ++mirrored[static_cast<std::size_t>(f.dst)];  // a leader's mailbox receive
        continue;  // else to the mirrored rank's host over the pair link, no receiver (or a proxy receive)
      }
      // Over ports (across nodes, or a switch inside the node): a link shared by several ranks would miss the
      // mirrored ranks' flows. To a mirrored rank: to its image's leader, whose port it loads instead.
      if (!ports_only(direct, router)) return name + ": a route uses links shared by several ranks";
      if (to == src) {  // the image flow comes back to the sender: its loopback route must be its ports
        Route back;
        if (!router.route(plane, dst, src, back) || !router.loopback_route(plane, src, redirected) ||
            redirected.count != 2 || redirected.links[0] != direct.links[0] ||
            redirected.links[1] != back.links[static_cast<std::size_t>(back.count - 1)] ||
            redirected.rate_bound_bytes_per_s != direct.rate_bound_bytes_per_s) {
          return name + ": a flow whose image returns to its sender has no loopback over its ports";
        }
        continue;
      }
      if (to != dst) {
        if (!router.route(plane, src, to, redirected) || !ports_only(redirected, router) ||
            redirected.links[0] != direct.links[0] ||
            redirected.rate_bound_bytes_per_s != direct.rate_bound_bytes_per_s) {
          return name + ": a flow cannot be redirected to its image's leader";
        }
      }
      ++mirrored[static_cast<std::size_t>(at.at(to))];
    }
    for (std::size_t m = 0; m < p; ++m) {
      if (full[m] > window || mirrored[m] > window) return name + ": a member posts more comms than the window";
    }
  }
  return {};
}

}  // namespace moesim::engine

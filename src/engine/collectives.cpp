#include "engine/collectives.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Mailbox.hpp>
#include <simgrid/s4u/Semaphore.hpp>
#include <unordered_map>

#include "engine/collective_preparation.hpp"
#include "engine/mirror_flows.hpp"

namespace moesim::engine {

namespace sg4 = simgrid::s4u;

namespace {

struct ActiveCollective {
  int members = 0;  // members that run (all but mirrored ranks)
  int arrived = 0;
  int finished = 0;
  sg4::SemaphorePtr gate;
  std::shared_ptr<const PreparedCollective> prepared;
  // Proxy receives (mirrored ranks): per phase x member, flows still running and the gate their sender opens.
  std::vector<int> proxy_left;
  std::vector<sg4::SemaphorePtr> proxy_gate;
};

}  // namespace

struct CollectiveRunner::Impl {
  const Platform& platform;
  const model::OpGraph& graph;
  std::vector<std::vector<int>> member_streams;
  CommStats& stats;
  CollectivePreparer preparer;
  const RankMirror* mirror;  // set when mirrored ranks are on and every collective allows them
  std::unordered_map<int, ActiveCollective> active;
  std::unordered_map<std::uint64_t, sg4::Mailbox*> mailboxes;

  Impl(const Platform& p, const config::TopologyConfig& t, const model::OpGraph& g, std::vector<std::vector<int>> ms,
       CommStats& s, const CollectiveOptions& options)
      : platform(p),
        graph(g),
        member_streams(std::move(ms)),
        stats(s),
        preparer(p, t, g, member_streams, s, options),
        mirror(preparer.mirror()) {}

  sg4::Mailbox* mailbox(int dst, int stream, int src) {
    const std::uint64_t key = (static_cast<std::uint64_t>(dst) << 40) | (static_cast<std::uint64_t>(stream) << 24) |
                              static_cast<std::uint64_t>(src);
    auto it = mailboxes.find(key);
    if (it != mailboxes.end()) return it->second;
    sg4::Mailbox* box =
        sg4::Mailbox::by_name("r" + std::to_string(dst) + ".s" + std::to_string(stream) + "<r" + std::to_string(src));
    mailboxes.emplace(key, box);
    return box;
  }

  ActiveCollective& arrive(int index) {
    ActiveCollective& a = active[index];
    if (a.arrived == 0) {
      a.prepared = preparer.take(index);
      a.gate = sg4::Semaphore::create(0);
      const model::Collective& c = graph.collectives[static_cast<std::size_t>(index)];
      a.members = static_cast<int>(c.ranks.size());
      if (mirror != nullptr) {
        a.members = static_cast<int>(
            std::count_if(c.ranks.begin(), c.ranks.end(), [this](int r) { return mirror->simulated(r); }));
        open_proxy_gates(a, c.ranks.size());
      } else {
        for (const auto& [link, bytes] : a.prepared->analytic_link_bytes) {
          stats.link_bytes[static_cast<std::size_t>(link)] += bytes;
        }
      }
      stats.analytic_flows += a.prepared->analytic_flows;
      stats.folded_flows += a.prepared->folded_flows;
    }
    ++a.arrived;
    return a;
  }

  void open_proxy_gates(ActiveCollective& a, std::size_t p) {
    const auto& expected = a.prepared->proxy_expected;
    if (expected.empty()) return;
    a.proxy_left.assign(expected.size() * p, 0);
    a.proxy_gate.resize(expected.size() * p);
    for (std::size_t k = 0; k < expected.size(); ++k) {
      for (std::size_t m = 0; m < expected[k].size(); ++m) {
        if (expected[k][m] == 0) continue;
        a.proxy_left[k * p + m] = expected[k][m];
        a.proxy_gate[k * p + m] = sg4::Semaphore::create(0);
      }
    }
  }

  // A proxy flow of phase k for `member` ended: when it was the last one, let the member go on.
  void proxy_flow_done(int index, std::size_t k, int member) {
    ActiveCollective& a = active.at(index);
    const std::size_t slot =
        k * graph.collectives[static_cast<std::size_t>(index)].ranks.size() + static_cast<std::size_t>(member);
    if (--a.proxy_left[slot] == 0) a.proxy_gate[slot]->release();
  }

  void run_phase(int index, const PreparedCollective& a, std::size_t k, int member) {
    static int token = 0;
    static void* sink = nullptr;
    const model::Collective& c = graph.collectives[static_cast<std::size_t>(index)];
    const CollectivePhase& phase = a.plan.phases[k];
    const std::vector<int>& order = a.order[k];
    const int begin = a.offsets[k][static_cast<std::size_t>(member)];
    const int end = a.offsets[k][static_cast<std::size_t>(member) + 1];
    const double start_s = sg4::Engine::get_clock();
    std::vector<sg4::CommPtr> pending;
    std::vector<int> proxy_for;  // per pending comm: the member a proxy send notifies, or -1
    pending.reserve(std::min<std::size_t>(preparer.window(), static_cast<std::size_t>(end - begin)));
    bool proxies = false;
    auto wait_one = [&] {
      const auto done = static_cast<std::size_t>(sg4::Comm::wait_any(pending));
      if (proxy_for[done] >= 0) proxy_flow_done(index, k, proxy_for[done]);
      pending[done] = pending.back();
      pending.pop_back();
      proxy_for[done] = proxy_for.back();
      proxy_for.pop_back();
    };
    for (int e = begin; e < end; ++e) {
      if (pending.size() >= preparer.window()) wait_one();
      const std::size_t f = static_cast<std::size_t>(order[static_cast<std::size_t>(e)] / 2);
      const PlannedFlow& flow = phase.flows[f];
      const int to = a.receivers.empty() ? flow.dst : a.receivers[k][f];
      const int src = c.ranks[static_cast<std::size_t>(flow.src)];
      const int dst = c.ranks[static_cast<std::size_t>(to < 0 ? flow.dst : to)];
      const auto size = static_cast<std::uint64_t>(std::llround(flow.bytes));
      if (order[static_cast<std::size_t>(e)] % 2 == 1) {
        const int dst_stream = member_streams[static_cast<std::size_t>(index)][static_cast<std::size_t>(to)];
        pending.push_back(mailbox(dst, dst_stream, src)->get_async<void>(&sink));
        proxy_for.push_back(-1);
        continue;
      }
      Route route;
      if (mirror != nullptr) {
        platform.router->route(a.plane, src, dst, route);
      } else {
        route = preparer.for_each_link(a.plane, c, phase, flow, [&](int link, double bytes) {
          stats.link_bytes[static_cast<std::size_t>(link)] += bytes;
        });
      }
      ++stats.flows;
      sg4::CommPtr comm;
      const bool proxy = is_proxy_receiver(to);
      if (to == kNoReceiver || to == kLoopback || proxy) {  // to a mirrored peer: no actor receives it
        // kLoopback: over the sender's own ports (its image returns to it; mirror_flows.hpp)
        const int peer = to == kLoopback ? src : c.ranks[static_cast<std::size_t>(flow.dst)];
        comm = sg4::Comm::sendto_init(platform.host(a.plane, src), platform.host(a.plane, peer));
        comm->set_payload_size(size);
      } else {
        const int dst_stream = member_streams[static_cast<std::size_t>(index)][static_cast<std::size_t>(to)];
        comm = mailbox(dst, dst_stream, src)->put_init(&token, size);
      }
      if (route.rate_bound_bytes_per_s > 0.0) comm->set_rate(route.rate_bound_bytes_per_s);
      comm->start();
      pending.push_back(std::move(comm));
      proxy_for.push_back(proxy ? proxy_member(to) : -1);
      proxies = proxies || proxy;
    }
    if (proxies) {
      while (!pending.empty()) wait_one();
    } else if (!pending.empty()) {
      sg4::Comm::wait_all(pending);
    }
    if (!a.proxy_expected.empty() && !a.proxy_expected[k].empty() &&
        a.proxy_expected[k][static_cast<std::size_t>(member)] > 0) {
      sg4::SemaphorePtr gate = active.at(index).proxy_gate[k * c.ranks.size() + static_cast<std::size_t>(member)];
      gate->acquire();  // the images of this member's receives from mirrored ranks of its node have ended
    }
    // Analytic pair-link flows still running, then the phase's latency steps: one sleep.
    const double analytic_left_s =
        std::max(0.0, a.analytic[k].wait_s[static_cast<std::size_t>(member)] - (sg4::Engine::get_clock() - start_s));
    const double wait_s = analytic_left_s + phase.latency_steps * phase.alpha_s;
    if (wait_s > 0.0) {
      ++stats.sleeps;
      sg4::this_actor::sleep_for(wait_s);
    }
  }

  void run(int index, int member) {
    const model::Collective& c = graph.collectives[static_cast<std::size_t>(index)];
    ActiveCollective& a = arrive(index);
    const int p = a.members;
    if (a.arrived < p) {
      sg4::SemaphorePtr gate = a.gate;  // `a` may move while we wait (rehash); hold the semaphore itself
      gate->acquire();
    } else {
      for (int i = 1; i < p; ++i) a.gate->release();
    }
    const std::shared_ptr<const PreparedCollective> prepared = active.at(index).prepared;
    const PreparedCollective& me = *prepared;
    sg4::Host* home = sg4::this_actor::get_host();
    const int rank = c.ranks[static_cast<std::size_t>(member)];
    if (me.plane != 0) sg4::this_actor::set_host(platform.host(me.plane, rank));
    for (std::size_t k = 0; k < me.plan.phases.size(); ++k) run_phase(index, me, k, member);
    if (me.plane != 0) sg4::this_actor::set_host(home);
    ActiveCollective& done = active.at(index);
    if (++done.finished == p) active.erase(index);
  }
};

CollectiveRunner::CollectiveRunner(const Platform& platform, const config::TopologyConfig& topology,
                                   const model::OpGraph& graph, std::vector<std::vector<int>> member_streams,
                                   CommStats& stats, const CollectiveOptions& options)
    : impl_(std::make_unique<Impl>(platform, topology, graph, std::move(member_streams), stats, options)) {}

CollectiveRunner::~CollectiveRunner() = default;

void CollectiveRunner::run(int index, int member) {
  impl_->run(index, member);
}

int CollectiveRunner::arrived(int index) const {
  auto it = impl_->active.find(index);
  return it == impl_->active.end() ? 0 : it->second.arrived;
}

}  // namespace moesim::engine

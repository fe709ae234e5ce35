#include "engine/collectives.hpp"

#include <algorithm>
#include <cmath>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Mailbox.hpp>
#include <simgrid/s4u/Semaphore.hpp>
#include <unordered_map>

#include "engine/collective_plan.hpp"

namespace moesim::engine {

namespace sg4 = simgrid::s4u;

namespace {

// A plan plus, per phase, each member's flows in the order it posts them.
struct ActiveCollective {
  int arrived = 0;
  int finished = 0;
  sg4::SemaphorePtr gate;
  CollectivePlan plan;
  int plane = 0;
  // per phase: offsets[member]..offsets[member+1] into order; entries are flow index * 2 + (1 if receive)
  std::vector<std::vector<int>> offsets;
  std::vector<std::vector<int>> order;
};

void index_phase(const CollectivePhase& phase, int p, std::vector<int>& offsets, std::vector<int>& order) {
  // Pairwise-round order: flow s->d has round (d - s) mod p for both ends; sends before receives within a round.
  struct Entry {
    int member, round, code;
  };
  std::vector<Entry> entries;
  entries.reserve(phase.flows.size() * 2);
  for (std::size_t f = 0; f < phase.flows.size(); ++f) {
    const PlannedFlow& flow = phase.flows[f];
    const int round = ((flow.dst - flow.src) % p + p) % p;
    entries.push_back({flow.src, round, static_cast<int>(f) * 2});
    entries.push_back({flow.dst, round, static_cast<int>(f) * 2 + 1});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.member != b.member ? a.member < b.member : a.round != b.round ? a.round < b.round : a.code < b.code;
  });
  offsets.assign(static_cast<std::size_t>(p) + 1, 0);
  order.clear();
  order.reserve(entries.size());
  for (const Entry& e : entries) {
    ++offsets[static_cast<std::size_t>(e.member) + 1];
    order.push_back(e.code);
  }
  for (int m = 0; m < p; ++m) offsets[static_cast<std::size_t>(m) + 1] += offsets[static_cast<std::size_t>(m)];
}

}  // namespace

struct CollectiveRunner::Impl {
  const Platform& platform;
  const config::TopologyConfig& topology;
  const model::OpGraph& graph;
  std::vector<std::vector<int>> member_streams;
  CommStats& stats;
  std::size_t window;
  bool aggregate_cross_node;
  std::unordered_map<int, ActiveCollective> active;
  std::unordered_map<std::uint64_t, sg4::Mailbox*> mailboxes;

  Impl(const Platform& p, const config::TopologyConfig& t, const model::OpGraph& g, std::vector<std::vector<int>> ms,
       CommStats& s, std::size_t w, bool aggregate)
      : platform(p),
        topology(t),
        graph(g),
        member_streams(std::move(ms)),
        stats(s),
        window(std::max<std::size_t>(w, 2)),
        aggregate_cross_node(aggregate) {
    stats.link_bytes.assign(platform.router->links().size(), 0.0);
  }

  PlanContext context(const model::Collective& c) const {
    const int plane = c.fabric.empty() ? 0 : platform.router->plane_of(c.fabric);
    return PlanContext{*platform.router, plane, topology.ranks_per_node(), topology, aggregate_cross_node};
  }

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
      const model::Collective& c = graph.collectives[static_cast<std::size_t>(index)];
      const PlanContext ctx = context(c);
      a.plane = ctx.plane;
      a.plan = plan_collective(c, ctx);
      a.gate = sg4::Semaphore::create(0);
      const int p = static_cast<int>(c.ranks.size());
      a.offsets.resize(a.plan.phases.size());
      a.order.resize(a.plan.phases.size());
      for (std::size_t k = 0; k < a.plan.phases.size(); ++k) index_phase(a.plan.phases[k], p, a.offsets[k], a.order[k]);
    }
    ++a.arrived;
    return a;
  }

  void run_phase(int index, ActiveCollective& a, std::size_t k, int member) {
    static int token = 0;
    static void* sink = nullptr;
    const model::Collective& c = graph.collectives[static_cast<std::size_t>(index)];
    const CollectivePhase& phase = a.plan.phases[k];
    const std::vector<int>& order = a.order[k];
    const int begin = a.offsets[k][static_cast<std::size_t>(member)];
    const int end = a.offsets[k][static_cast<std::size_t>(member) + 1];
    std::vector<sg4::CommPtr> pending;
    pending.reserve(std::min<std::size_t>(window, static_cast<std::size_t>(end - begin)));
    for (int e = begin; e < end; ++e) {
      if (pending.size() >= window) {
        const ssize_t done = sg4::Comm::wait_any(pending);
        pending[static_cast<std::size_t>(done)] = pending.back();
        pending.pop_back();
      }
      const PlannedFlow& flow = phase.flows[static_cast<std::size_t>(order[static_cast<std::size_t>(e)] / 2)];
      const int src = c.ranks[static_cast<std::size_t>(flow.src)];
      const int dst = c.ranks[static_cast<std::size_t>(flow.dst)];
      const int dst_stream = member_streams[static_cast<std::size_t>(index)][static_cast<std::size_t>(flow.dst)];
      sg4::Mailbox* box = mailbox(dst, dst_stream, src);
      if (order[static_cast<std::size_t>(e)] % 2 == 1) {
        pending.push_back(box->get_async<void>(&sink));
        continue;
      }
      Route route;
      platform.router->route(a.plane, src, dst, route);
      for (int i = 0; i < route.count; ++i) {
        stats.link_bytes[static_cast<std::size_t>(route.links[static_cast<std::size_t>(i)])] += flow.bytes;
      }
      ++stats.flows;
      sg4::CommPtr comm = box->put_init(&token, static_cast<std::uint64_t>(std::llround(flow.bytes)));
      if (route.rate_bound_bytes_per_s > 0.0) comm->set_rate(route.rate_bound_bytes_per_s);
      comm->start();
      pending.push_back(std::move(comm));
    }
    if (!pending.empty()) sg4::Comm::wait_all(pending);
    const double latency_s = phase.latency_steps * phase.alpha_s;
    if (latency_s > 0.0) {
      ++stats.sleeps;
      sg4::this_actor::sleep_for(latency_s);
    }
  }

  void run(int index, int member) {
    const model::Collective& c = graph.collectives[static_cast<std::size_t>(index)];
    const int p = static_cast<int>(c.ranks.size());
    ActiveCollective& a = arrive(index);
    if (a.arrived < p) {
      sg4::SemaphorePtr gate = a.gate;  // `a` may move while we wait (rehash); hold the semaphore itself
      gate->acquire();
    } else {
      for (int i = 1; i < p; ++i) a.gate->release();
    }
    ActiveCollective& me = active.at(index);
    sg4::Host* home = sg4::this_actor::get_host();
    const int rank = c.ranks[static_cast<std::size_t>(member)];
    if (me.plane != 0) sg4::this_actor::set_host(platform.host(me.plane, rank));
    for (std::size_t k = 0; k < me.plan.phases.size(); ++k) run_phase(index, active.at(index), k, member);
    if (me.plane != 0) sg4::this_actor::set_host(home);
    ActiveCollective& done = active.at(index);
    if (++done.finished == p) active.erase(index);
  }
};

CollectiveRunner::CollectiveRunner(const Platform& platform, const config::TopologyConfig& topology,
                                   const model::OpGraph& graph, std::vector<std::vector<int>> member_streams,
                                   CommStats& stats, std::size_t window, bool aggregate_cross_node)
    : impl_(std::make_unique<Impl>(platform, topology, graph, std::move(member_streams), stats, window,
                                   aggregate_cross_node)) {}

CollectiveRunner::~CollectiveRunner() = default;

void CollectiveRunner::run(int index, int member) {
  impl_->run(index, member);
}

int CollectiveRunner::arrived(int index) const {
  auto it = impl_->active.find(index);
  return it == impl_->active.end() ? 0 : it->second.arrived;
}

void CollectiveRunner::check_all_routable() const {
  for (std::size_t i = 0; i < impl_->graph.collectives.size(); ++i) {
    const model::Collective& c = impl_->graph.collectives[i];
    check_routable(c, static_cast<int>(i), impl_->context(c));
  }
}

}  // namespace moesim::engine

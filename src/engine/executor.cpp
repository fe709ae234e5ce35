#include "engine/executor.hpp"

#include <algorithm>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Semaphore.hpp>
#include <stdexcept>
#include <unordered_map>

#include "engine/cost_model.hpp"

namespace moesim::engine {

namespace sg4 = simgrid::s4u;
using model::OpId;
using model::OpKind;

namespace {

struct Stream {
  int rank = 0;
  int stream = 0;
  std::vector<OpId> ops;
  std::size_t next = 0;    // index of the op being run or next to run
  OpId waiting_on = -1;    // dep being awaited, for deadlock reports
  sg4::SemaphorePtr wake;  // released by whoever completes the awaited op
};

}  // namespace

struct Executor::Impl {
  const Platform& platform;
  const config::TopologyConfig& topology;
  const model::OpGraph& graph;
  ExecutorOptions options;
  std::vector<double> op_time_s;  // roofline time of compute ops
  // The hot loop's view of the graph, compact and contiguous (the Op records are ~160 bytes with their deps on the
  // heap: a cache miss each): kinds, and the deps of op i at dep_list[dep_begin[i] .. dep_begin[i + 1]).
  std::vector<OpKind> kind;
  std::vector<std::uint32_t> dep_begin;
  std::vector<OpId> dep_list;
  std::vector<char> done;
  std::vector<char> external;  // another stream depends on this op
  std::vector<int> member_of;  // collective ops: index in Collective::ranks
  std::vector<int> stream_of;  // index into streams
  std::vector<Stream> streams;
  // Streams waiting for an op, as intrusive lists (a stream waits for one op at a time): the first waiter of op i,
  // and per stream the next stream waiting for the same op; -1 ends a list.
  std::vector<int> first_waiter;
  std::vector<int> next_waiter;
  std::vector<OpTiming> intervals;
  CommStats stats;
  std::unique_ptr<CollectiveRunner> runner;
  RankMirror mirror;           // active: only node leaders run (rank_mirroring.hpp)
  std::size_t ops_to_run = 0;  // ops of simulated ranks
  std::uint64_t executions = 0;
  std::uint64_t sleeps = 0;
  std::size_t done_count = 0;
  std::size_t progress_step = 1;  // report every progress_step completions (set in the constructor)
  double makespan_s = 0.0;
  std::string actor_error;

  Impl(const Platform& p, const config::TopologyConfig& t, const model::OpGraph& g, const ExecutorOptions& o)
      : platform(p), topology(t), graph(g), options(o) {
    const std::size_t n = graph.ops.size();
    progress_step = std::max<std::size_t>(1, n / 256);
    op_time_s.assign(n, 0.0);
    done.assign(n, 0);
    external.assign(n, 0);
    member_of.assign(n, -1);
    stream_of.assign(n, -1);
    if (options.record_ops) intervals.assign(n, OpTiming{-1.0, -1.0});
    kind.resize(n);
    first_waiter.assign(n, -1);
    dep_begin.resize(n + 1, 0);
    std::size_t total_deps = 0;
    for (const auto& op : graph.ops) total_deps += op.deps.size();
    if (total_deps > 0xFFFFFFFFULL) throw std::invalid_argument("op graph too large: more than 2^32 dependencies");
    dep_list.reserve(total_deps);
    std::unordered_map<std::uint64_t, int> stream_index;
    std::vector<std::vector<OpId>> member_ops(graph.collectives.size());
    for (std::size_t i = 0; i < n; ++i) {
      const model::Op& op = graph.ops[i];
      const std::uint64_t key = (static_cast<std::uint64_t>(op.rank) << 32) | static_cast<std::uint32_t>(op.stream);
      auto [it, inserted] = stream_index.emplace(key, static_cast<int>(streams.size()));
      if (inserted) streams.push_back(Stream{op.rank, op.stream, {}, 0, -1, nullptr});
      streams[static_cast<std::size_t>(it->second)].ops.push_back(static_cast<OpId>(i));
      stream_of[i] = it->second;
      kind[i] = op.kind;
      dep_list.insert(dep_list.end(), op.deps.begin(), op.deps.end());
      dep_begin[i + 1] = static_cast<std::uint32_t>(dep_list.size());
      for (OpId dep : op.deps) {
        if (stream_of[static_cast<std::size_t>(dep)] != it->second) external[static_cast<std::size_t>(dep)] = 1;
      }
      if (op.kind == OpKind::Compute) {
        try {
          op_time_s[i] = op_time_s_checked(op);
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument("op " + std::to_string(i) + " '" + op.name + "': " + e.what());
        }
      } else if (op.kind == OpKind::Collective) {
        member_ops[static_cast<std::size_t>(op.collective)].push_back(static_cast<OpId>(i));
      }
    }
    next_waiter.assign(streams.size(), -1);
    std::vector<std::vector<int>> member_streams(graph.collectives.size());
    std::vector<int> position(static_cast<std::size_t>(graph.num_ranks), -1);
    for (std::size_t c = 0; c < graph.collectives.size(); ++c) {
      const auto& ranks = graph.collectives[c].ranks;
      for (std::size_t m = 0; m < ranks.size(); ++m) position[static_cast<std::size_t>(ranks[m])] = static_cast<int>(m);
      member_streams[c].assign(ranks.size(), 0);
      for (OpId id : member_ops[c]) {
        const model::Op& op = graph.ops[static_cast<std::size_t>(id)];
        const int m = position[static_cast<std::size_t>(op.rank)];
        member_of[static_cast<std::size_t>(id)] = m;
        member_streams[c][static_cast<std::size_t>(m)] = op.stream;
      }
      for (int r : ranks) position[static_cast<std::size_t>(r)] = -1;
    }
    CollectiveOptions collective_options;
    collective_options.window = options.comm_window;
    collective_options.aggregate_cross_node = options.aggregate_cross_node_flows;
    collective_options.analytic_pair_links = options.analytic_pair_links;
    collective_options.fold_symmetric_meshes = options.fold_symmetric_meshes;
    if (options.mirror_symmetric_ranks) collective_options.mirror = &mirror;  // the runner finds the shift
    runner = std::make_unique<CollectiveRunner>(platform, topology, graph, std::move(member_streams), stats,
                                                collective_options);
    ops_to_run = n;
    if (mirror.active()) use_mirror();
  }

  // Leaders wait for the sources of the mirrored ops they depend on; mirrored ranks get no actors.
  void use_mirror() {
    for (OpId& dep : dep_list) {
      const OpId source = mirror.source[static_cast<std::size_t>(dep)];
      if (source >= 0) dep = source;
    }
    ops_to_run = 0;
    for (const Stream& s : streams) {
      if (mirror.simulated(s.rank)) ops_to_run += s.ops.size();
    }
  }

  double op_time_s_checked(const model::Op& op) const { return engine::op_time_s(topology.device, op.compute); }

  void wait_deps(Stream& s, OpId id) {
    const auto i = static_cast<std::size_t>(id);
    for (std::uint32_t k = dep_begin[i]; k < dep_begin[i + 1]; ++k) {
      const OpId dep = dep_list[k];
      while (!done[static_cast<std::size_t>(dep)]) {
        s.waiting_on = dep;
        const int self = stream_of[i];
        next_waiter[static_cast<std::size_t>(self)] = -1;
        int* link = &first_waiter[static_cast<std::size_t>(dep)];  // append: wake-ups in arrival order
        while (*link >= 0) link = &next_waiter[static_cast<std::size_t>(*link)];
        *link = self;
        s.wake->acquire();
      }
    }
    s.waiting_on = -1;
  }

  void complete(OpId id, double start_s, double end_s) {
    done[static_cast<std::size_t>(id)] = 1;
    ++done_count;
    makespan_s = std::max(makespan_s, end_s);
    if (options.record_ops) intervals[static_cast<std::size_t>(id)] = {start_s, end_s};
    if (options.on_progress && done_count % progress_step == 0) {
      options.on_progress(done_count, ops_to_run, end_s);
    }
    int w = first_waiter[static_cast<std::size_t>(id)];
    first_waiter[static_cast<std::size_t>(id)] = -1;
    while (w >= 0) {
      const int next = next_waiter[static_cast<std::size_t>(w)];
      streams[static_cast<std::size_t>(w)].wake->release();
      w = next;
    }
  }

  // Compute ops from s.next on: the first (deps met) plus, when coarsening, the following compute ops whose deps
  // are all done already, stopping after an op another stream depends on.
  void run_compute(Stream& s) {
    const std::size_t first = s.next;
    std::size_t last = first;
    if (options.coarsen_compute) {
      const int own = stream_of[static_cast<std::size_t>(s.ops[first])];
      while (!external[static_cast<std::size_t>(s.ops[last])] && last + 1 < s.ops.size()) {
        const auto next = static_cast<std::size_t>(s.ops[last + 1]);
        if (kind[next] != OpKind::Compute) break;
        const bool ready = std::all_of(
            dep_list.begin() + dep_begin[next], dep_list.begin() + dep_begin[next + 1],
            [&](OpId d) { return done[static_cast<std::size_t>(d)] || stream_of[static_cast<std::size_t>(d)] == own; });
        if (!ready) break;
        ++last;
      }
    }
    double total_s = 0.0;
    for (std::size_t k = first; k <= last; ++k) total_s += op_time_s[static_cast<std::size_t>(s.ops[k])];
    const double start_s = sg4::Engine::get_clock();
    if (total_s > 0.0) {
      ++executions;
      sg4::this_actor::execute(total_s * platform.host_speed_flops);
    }
    const double end_s = sg4::Engine::get_clock();
    double cumulative_s = 0.0;
    for (std::size_t k = first; k <= last; ++k) {
      const OpId id = s.ops[k];
      const double a = total_s > 0.0 ? start_s + (end_s - start_s) * cumulative_s / total_s : start_s;
      cumulative_s += op_time_s[static_cast<std::size_t>(id)];
      const double b = total_s > 0.0 ? start_s + (end_s - start_s) * cumulative_s / total_s : end_s;
      complete(id, a, k == last ? end_s : b);
    }
    s.next = last + 1;
  }

  void run_stream(int index) {
    Stream& s = streams[static_cast<std::size_t>(index)];
    while (s.next < s.ops.size()) {
      const OpId id = s.ops[s.next];
      wait_deps(s, id);
      if (kind[static_cast<std::size_t>(id)] == OpKind::Compute) {
        run_compute(s);
        continue;
      }
      const model::Op& op = graph.ops[static_cast<std::size_t>(id)];
      const double start_s = sg4::Engine::get_clock();
      if (op.kind == OpKind::Delay) {
        if (op.delay_s > 0.0) {
          ++sleeps;
          sg4::this_actor::sleep_for(op.delay_s);
        }
      } else {
        runner->run(op.collective, member_of[static_cast<std::size_t>(id)]);
      }
      complete(id, start_s, sg4::Engine::get_clock());
      ++s.next;
    }
  }
};

Executor::Executor(const Platform& platform, const config::TopologyConfig& topology, const model::OpGraph& graph,
                   const ExecutorOptions& options)
    : impl_(std::make_unique<Impl>(platform, topology, graph, options)) {}

Executor::~Executor() = default;

std::size_t Executor::actor_count() const {
  return static_cast<std::size_t>(std::count_if(impl_->streams.begin(), impl_->streams.end(),
                                                [this](const Stream& s) { return impl_->mirror.simulated(s.rank); }));
}

int Executor::mirrored_ranks() const {
  const auto& m = impl_->mirror;
  return m.active() ? impl_->graph.num_ranks - impl_->graph.num_ranks / m.period * m.shift : 0;
}

int Executor::mirror_shift() const {
  return impl_->mirror.active() ? impl_->mirror.shift : 1;
}

int Executor::mirror_period() const {
  return impl_->mirror.active() ? impl_->mirror.period : 0;
}

const std::string& Executor::mirror_refusal() const {
  return impl_->mirror.refusal;
}

void Executor::create_actors() {
  Impl& impl = *impl_;
  for (std::size_t i = 0; i < impl.streams.size(); ++i) {
    Stream& s = impl.streams[i];
    if (!impl.mirror.simulated(s.rank)) continue;
    s.wake = sg4::Semaphore::create(0);
    const int index = static_cast<int>(i);
    sg4::Actor::create("r" + std::to_string(s.rank) + ".s" + std::to_string(s.stream), impl.platform.host(0, s.rank),
                       [&impl, index] {
                         try {
                           impl.run_stream(index);
                         } catch (const std::exception& e) {  // never let an exception cross into SimGrid
                           if (impl.actor_error.empty()) impl.actor_error = e.what();
                         }
                       });
  }
}

void Executor::finish() {
  Impl& impl = *impl_;
  if (!impl.actor_error.empty()) throw std::runtime_error("simulation failed: " + impl.actor_error);
  if (impl.done_count == impl.ops_to_run) {
    if (!impl.mirror.active() || !impl.options.record_ops) return;
    for (std::size_t i = 0; i < impl.mirror.source.size(); ++i) {
      const OpId source = impl.mirror.source[i];
      if (source >= 0) impl.intervals[i] = impl.intervals[static_cast<std::size_t>(source)];
    }
    return;
  }
  std::string report;
  int listed = 0;
  for (const Stream& s : impl.streams) {
    if (s.next >= s.ops.size() || listed >= 8 || !impl.mirror.simulated(s.rank)) continue;
    const OpId id = s.ops[s.next];
    const model::Op& op = impl.graph.ops[static_cast<std::size_t>(id)];
    report += "\n  rank " + std::to_string(s.rank) + " stream " + std::to_string(s.stream) + ": op " +
              std::to_string(id) + " '" + op.name + "' ";
    if (s.waiting_on >= 0) {
      report += "waits for op " + std::to_string(s.waiting_on) + " '" +
                impl.graph.ops[static_cast<std::size_t>(s.waiting_on)].name + "'";
    } else if (op.kind == OpKind::Collective) {
      const auto& c = impl.graph.collectives[static_cast<std::size_t>(op.collective)];
      report += "waits in collective " + std::to_string(op.collective) + " (" + model::to_string(c.kind) +
                "): " + std::to_string(impl.runner->arrived(op.collective)) + " of " + std::to_string(c.ranks.size()) +
                " members arrived";
    } else {
      report += "did not finish";
    }
    ++listed;
  }
  throw std::runtime_error("deadlock: " + std::to_string(impl.ops_to_run - impl.done_count) + " of " +
                           std::to_string(impl.ops_to_run) +
                           " ops never ran (collective members reached in a different order, or a dependency "
                           "that cannot be met). First stuck streams:" +
                           report);
}

std::vector<OpTiming> Executor::take_intervals() {
  return std::move(impl_->intervals);
}
double Executor::makespan_s() const {
  return impl_->makespan_s;
}
std::uint64_t Executor::events() const {
  return impl_->executions + impl_->sleeps + impl_->stats.flows + impl_->stats.sleeps;
}
const CommStats& Executor::comm_stats() const {
  return impl_->stats;
}

}  // namespace moesim::engine

#pragma once
// Runs a model::OpGraph on a built Platform: one SimGrid actor per (rank, stream) that has ops. A stream runs its
// ops in id order; an op starts once its deps (any rank, any stream) are done. Waiting uses one SimGrid semaphore
// per actor, released by whoever completes the awaited op (no polling). SimGrid-free header (pimpl).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/topology_config.hpp"
#include "engine/collectives.hpp"
#include "engine/op_timing.hpp"
#include "engine/platform_builder.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

struct ExecutorOptions {
  // Merge consecutive compute ops of a stream whose deps are already met into one SimGrid execution; the merge
  // stops at an op that another stream waits on, so notifications stay exact. Per-op times are the merged
  // interval split in proportion to each op's roofline time.
  bool coarsen_compute = true;
  bool record_ops = true;
  std::size_t comm_window = 128;            // outstanding comms per actor in a collective phase
  bool aggregate_cross_node_flows = false;  // see EngineOptions
  bool analytic_pair_links = false;         // see EngineOptions
  bool fold_symmetric_meshes = false;       // see EngineOptions
  bool mirror_symmetric_ranks = false;      // see EngineOptions
  // Called after every 1/256th of the ops completes (completed ops, total ops, simulated clock); may be empty.
  std::function<void(std::size_t, std::size_t, double)> on_progress;
};

class Executor {
 public:
  // Validates what the run needs (roofline inputs, routability) and throws std::invalid_argument before any actor
  // exists. The graph must already have passed model::validate.
  Executor(const Platform& platform, const config::TopologyConfig& topology, const model::OpGraph& graph,
           const ExecutorOptions& options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  std::size_t actor_count() const;  // one SimGrid actor per (rank, stream) that has ops and is simulated
  // Ranks given their node leader's timings (rank_mirroring.hpp); 0 when every rank is simulated.
  int mirrored_ranks() const;
  int mirror_shift() const;                   // leaders per block when mirrored (rank_mirroring.hpp), else 1
  int mirror_period() const;                  // ranks per block when mirrored, else 0
  const std::string& mirror_refusal() const;  // why ranks are not mirrored (empty when they are or not asked)
  void create_actors();
  // After Engine::run(): throws std::runtime_error describing stuck ops (deadlock, mismatched collective order)
  // or an error raised inside an actor; then gives mirrored ops their sources' intervals.
  void finish();

  // Per op, when it ran (record_ops); moved out, so call once, after finish().
  std::vector<OpTiming> take_intervals();
  double makespan_s() const;
  std::uint64_t events() const;  // executions + flows + sleeps started
  const CommStats& comm_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moesim::engine

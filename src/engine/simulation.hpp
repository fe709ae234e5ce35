#pragma once
// Engine entry point: topology + op graph -> simulated timings. SimGrid-free header.
//
// ONE SIMULATION PER PROCESS: SimGrid 3.32 keeps global state (clock, models, mailboxes) that a second Engine in
// the same process inherits (shared/reference/simgrid-3.32.md section 4). simulate() refuses a second call with
// std::logic_error; sweeps run one process per point (fork or separate runs). ctest runs each TEST_CASE in its
// own process.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/topology_config.hpp"
#include "engine/op_timing.hpp"
#include "engine/rank_mirroring.hpp"
#include "model/op_graph.hpp"

namespace moesim::engine {

struct EngineOptions {
  bool coarsen_compute = true;         // merge runs of ready compute ops on a stream (see ExecutorOptions)
  bool record_ops = true;              // fill SimulationResult::ops
  bool aggregated_node_ports = false;  // full-mesh fabrics as one aggregated port per rank (cheaper, see engine.md)
  int aggregate_above_ranks = 64;      // full meshes larger than this are always aggregated
  std::size_t comm_window = 128;       // comms outstanding per actor in a collective phase (>= 2)
  // Merge a phase's cross-node flows from one rank to one node into a single flow when every link keeps its byte
  // load (uniform all-to-all over per-rank NIC/switch ports): engine/flow_aggregation.hpp. `moesim run --full`
  // switches it off.
  bool aggregate_cross_node_flows = true;
  // Time flows that run alone on a dedicated per-pair link (HCCS inside a node) as bytes / bandwidth instead of
  // simulating them; exact (engine/pair_link_flows.hpp). `moesim run --full` switches it off.
  bool analytic_pair_links = true;
  // Simulate one flow per member, instead of one per peer, for uniform mesh phases inside a full-mesh domain when
  // every use of the domain keeps its links equally loaded; exact (engine/mesh_folding.hpp). `--full` switches it
  // off.
  bool fold_symmetric_meshes = true;
  // Simulate only the first rank of each node when the graph is invariant under shifting local indices (TP groups
  // over whole nodes, uniform expert load) and give the other ranks its op timings; exact (engine/rank_mirroring.hpp,
  // docs/engine.md "Mirrored ranks"). `--full` switches it off.
  bool mirror_symmetric_ranks = true;
  // Progress callback (completed ops, total ops, simulated clock), about 256 calls per run; may be empty.
  std::function<void(std::size_t, std::size_t, double)> on_progress;
  std::size_t actor_stack_bytes = 256 * 1024;  // SimGrid context stack per actor (virtual memory)
  std::vector<std::string> simgrid_config;     // extra SimGrid "name:value" settings, applied last (experiments)
};

struct LinkUsage {
  std::string name;
  double bytes = 0.0;  // sum over flows routed over it
  double bandwidth_bytes_per_s = 0.0;
};

struct SimulationResult {
  double makespan_s = 0.0;
  std::vector<OpTiming> ops;     // indexed by OpId (empty when record_ops is off)
  std::vector<LinkUsage> links;  // links that carried traffic, in link order
  std::uint64_t events = 0;      // SimGrid activities started: executions, flows, sleeps
  double wall_s = 0.0;           // whole call
  double platform_setup_s = 0.0;
  std::uint64_t flows = 0;           // simulated by SimGrid
  std::uint64_t analytic_flows = 0;  // timed analytically on dedicated pair links
  std::uint64_t folded_flows = 0;    // uniform mesh flows represented by another flow of their member
  int mirrored_ranks = 0;            // ranks given their node leader's timings (EngineOptions::mirror_symmetric_ranks)
  // > 1 when ranks are mirrored: rank r copies r - r % mirror_period + r % mirror_period % mirror_shift (a node's
  // size for a shift of local indices, a multiple of it for a block shift: engine/rank_mirroring.hpp).
  int mirror_period = 0;
  int mirror_shift = 1;
  // Rank whose op timings rank `rank` has (itself unless mirrored): per-rank metrics need only compute those.
  int timing_source(int rank) const {
    return mirror_period > 1 ? leader_rank(rank, mirror_period, mirror_shift) : rank;
  }
  std::string mirror_refusal;  // why ranks were not mirrored (empty when they were or it was off)
  std::size_t num_links = 0;   // links in the platform
};

// Throws std::invalid_argument for a graph that does not fit the topology (ranks, unknown fabric, unroutable
// group, zero-size collective, missing peak for a dtype), before simulating; std::runtime_error when the
// simulation cannot finish (deadlock); std::logic_error on a second call in the same process.
SimulationResult simulate(const config::TopologyConfig& topology, const model::OpGraph& graph,
                          const EngineOptions& options = {});

}  // namespace moesim::engine

#include "engine/simulation.hpp"

#include <xbt/log.h>

#include <chrono>
#include <fstream>
#include <set>
#include <simgrid/s4u/Engine.hpp>
#include <stdexcept>

#include "engine/executor.hpp"
#include "engine/platform_builder.hpp"

namespace moesim::engine {

namespace {

bool g_simulated = false;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The kernel's limit on memory mappings per process (vm.max_map_count); Linux's default when unreadable.
std::size_t max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  std::size_t value = 0;
  return (in >> value) && value > 0 ? value : 65530;
}

// SimGrid gives each actor's stack a guard page by mprotect, which splits the stack into two mappings. Tens of
// thousands of actors (a 6144-rank step with one actor per stream) then exceed vm.max_map_count and SimGrid aborts
// ("Failed to protect stack"). Without guard pages the stacks come from malloc and need no mapping of their own.
void drop_stack_guards_if_needed(std::size_t actors) {
  constexpr std::size_t kMappingsLeftForTheRest = 8192;
  if (2 * actors + kMappingsLeftForTheRest > max_map_count()) {
    simgrid::s4u::Engine::set_config("contexts/guard-size:0");
  }
}

}  // namespace

SimulationResult simulate(const config::TopologyConfig& topology, const model::OpGraph& graph,
                          const EngineOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (g_simulated) throw std::logic_error("simulate(): one simulation per process (SimGrid 3.32 keeps global state)");
  model::validate(graph);
  if (graph.num_ranks > topology.total_ranks()) {
    throw std::invalid_argument("the graph uses " + std::to_string(graph.num_ranks) + " ranks but topology '" +
                                topology.name + "' has " + std::to_string(topology.total_ranks()));
  }
  std::set<std::string> forced;
  for (const model::Collective& c : graph.collectives) {
    if (!c.fabric.empty()) forced.insert(c.fabric);
  }
  g_simulated = true;

  // Silence SimGrid except critical errors; the deadlock report is ours (Executor::finish).
  xbt_log_control_set("root.thres:critical");
  xbt_log_control_set("ker_engine.app:file:/dev/null");
  int argc = 1;
  char name[] = "moesim";
  char* argv[] = {name, nullptr};
  // Deliberately never destroyed: one Engine per process, and its teardown at exit only costs time.
  auto* engine = new simgrid::s4u::Engine(&argc, argv);
  simgrid::s4u::Engine::set_config("network/model:CM02");      // closed-form bandwidth sharing (reference P5)
  simgrid::s4u::Engine::set_config("network/crosstraffic:0");  // no 5% reverse traffic
  simgrid::s4u::Engine::set_config("network/TCP-gamma:0");     // no TCP window cap (gamma / 2 latency)
  simgrid::s4u::Engine::set_config("contexts/stack-size:" + std::to_string(options.actor_stack_bytes / 1024));
  for (const std::string& setting : options.simgrid_config) simgrid::s4u::Engine::set_config(setting);

  RouterOptions router_options;
  router_options.aggregated_node_ports = options.aggregated_node_ports;
  router_options.aggregate_above_ranks = options.aggregate_above_ranks;
  const Platform platform = build_platform(topology, graph.num_ranks, {forced.begin(), forced.end()}, router_options);
  SimulationResult result;
  result.platform_setup_s = seconds_since(t0);

  ExecutorOptions executor_options;
  executor_options.coarsen_compute = options.coarsen_compute;
  executor_options.record_ops = options.record_ops;
  executor_options.comm_window = options.comm_window;
  executor_options.aggregate_cross_node_flows = options.aggregate_cross_node_flows;
  executor_options.analytic_pair_links = options.analytic_pair_links;
  executor_options.fold_symmetric_meshes = options.fold_symmetric_meshes;
  executor_options.mirror_symmetric_ranks = options.mirror_symmetric_ranks;
  executor_options.on_progress = options.on_progress;
  Executor executor(platform, topology, graph, executor_options);
  drop_stack_guards_if_needed(executor.actor_count());
  executor.create_actors();
  engine->run();
  executor.finish();

  result.makespan_s = executor.makespan_s();
  result.events = executor.events();
  result.flows = executor.comm_stats().flows;
  result.analytic_flows = executor.comm_stats().analytic_flows;
  result.folded_flows = executor.comm_stats().folded_flows;
  result.mirrored_ranks = executor.mirrored_ranks();
  result.mirror_period = executor.mirror_period();
  result.mirror_shift = executor.mirror_shift();
  result.mirror_refusal = executor.mirror_refusal();
  if (options.record_ops) {
    result.ops = executor.take_intervals();
  }
  const auto& links = platform.router->links();
  result.num_links = links.size();
  const auto& bytes = executor.comm_stats().link_bytes;
  for (std::size_t i = 0; i < links.size(); ++i) {
    if (bytes[i] > 0.0) result.links.push_back({links[i].name, bytes[i], links[i].bandwidth_bytes_per_s});
  }
  result.wall_s = seconds_since(t0);
  return result;
}

}  // namespace moesim::engine

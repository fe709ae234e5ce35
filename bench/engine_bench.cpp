// Engine benchmark: builds a synthetic graph, simulates it once (one simulation per process) and prints one JSON
// line with the wall time, events, peak RSS and the simulated makespan. Used by bench/run_benchmarks.sh; the
// numbers are recorded in docs/performance.md. Not a test: nothing here asserts a time.
//
//   moesim_engine_bench node  [--layers L] [--ops K]
//   moesim_engine_bench a2a   [--ranks N] [--repeats R]
//   moesim_engine_bench train [--ranks N] [--layers L] [--ops K] [--skewed] [--no-tp|--no-ep|--no-dp]
//   [--hierarchical-ep] common: [--topology FILE] [--no-coarsen] [--no-mirror] [--aggregated-ports] [--timings] (prints makespan and
//   every op's
//           start/end with 17 digits, for determinism checks)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "config/config_error.hpp"
#include "config/topology_config.hpp"
#include "engine/simulation.hpp"
#include "synthetic_graphs.hpp"

namespace {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

int usage() {
  std::fprintf(
      stderr,
      "usage: moesim_engine_bench node|a2a|train [--ranks N] [--layers L] [--ops K] [--repeats R]\n"
      "       [--topology FILE] [--no-coarsen] [--no-mirror] [--aggregated-ports] [--timings] [--cfg simgrid:setting] [--window W]\n"
      "       train only: [--skewed] [--no-tp] [--no-ep] [--no-dp] [--hierarchical-ep]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  int ranks = mode == "a2a" ? 64 : mode == "node" ? 8 : 512;
  int layers = mode == "node" ? 4 : 2;
  int ops = mode == "node" ? 8 : 10;
  int repeats = 4;
  bool timings = false;
  moesim::bench::TrainingShape shape;
  std::string topology_file = std::string(MOESIM_SOURCE_DIR) + "/topologies/atlas_800t_a2_cluster.json";
  moesim::engine::EngineOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next_int = [&]() { return i + 1 < argc ? std::atoi(argv[++i]) : -1; };
    if (arg == "--ranks")
      ranks = next_int();
    else if (arg == "--layers")
      layers = next_int();
    else if (arg == "--ops")
      ops = next_int();
    else if (arg == "--repeats")
      repeats = next_int();
    else if (arg == "--topology" && i + 1 < argc)
      topology_file = argv[++i];
    else if (arg == "--no-coarsen")
      options.coarsen_compute = false;
    else if (arg == "--no-mirror")
      options.mirror_symmetric_ranks = false;
    else if (arg == "--aggregated-ports")
      options.aggregated_node_ports = true;
    else if (arg == "--timings")
      timings = true;
    else if (arg == "--skewed")
      shape.skewed = true;
    else if (arg == "--no-tp")
      shape.tp = false;
    else if (arg == "--no-ep")
      shape.ep = false;
    else if (arg == "--no-dp")
      shape.dp = false;
    else if (arg == "--hierarchical-ep")
      shape.ep_algorithm = moesim::model::CollectiveAlgorithm::Hierarchical;
    else if (arg == "--window")
      options.comm_window = static_cast<std::size_t>(std::max(2, next_int()));
    else if (arg == "--cfg" && i + 1 < argc)
      options.simgrid_config.push_back(argv[++i]);
    else
      return usage();
  }
  if (ranks <= 0 || layers <= 0 || ops <= 0 || repeats <= 0) return usage();
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const moesim::config::TopologyConfig topology = moesim::config::load_topology(topology_file);
    moesim::model::OpGraph graph;
    if (mode == "node")
      graph = moesim::bench::node_graph(layers, ops);
    else if (mode == "a2a")
      graph = moesim::bench::alltoallv_graph(ranks, repeats);
    else if (mode == "train")
      graph = moesim::bench::training_graph(ranks, layers, ops, shape);
    else
      return usage();
    const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    options.record_ops = timings;
    const auto result = moesim::engine::simulate(topology, graph, options);
    const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::size_t compute_ops = 0;
    for (const auto& op : graph.ops) compute_ops += op.kind == moesim::model::OpKind::Compute;
    std::printf(
        "{\"mode\": \"%s\", \"ranks\": %d, \"layers\": %d, \"ops_per_block\": %d, \"coarsen\": %s, "
        "\"aggregated_ports\": %s, \"skewed\": %s, \"ep\": \"%s\", \"ops\": %zu, \"compute_ops_per_rank\": %.1f, "
        "\"collectives\": %zu, "
        "\"links\": %zu, \"events\": %llu, \"flows\": %llu, \"analytic_flows\": %llu, \"mirrored_ranks\": %d, \"makespan_s\": %.9g, \"graph_build_s\": %.3f, "
        "\"platform_setup_s\": %.3f, \"simulate_wall_s\": %.3f, \"total_wall_s\": %.3f, \"peak_rss_mib\": %.1f, "
        "\"window\": %zu}\n",
        mode.c_str(), graph.num_ranks, layers, ops, options.coarsen_compute ? "true" : "false",
        options.aggregated_node_ports ? "true" : "false", shape.skewed || mode == "a2a" ? "true" : "false",
        moesim::model::to_string(shape.ep_algorithm).c_str(), graph.ops.size(),
        static_cast<double>(compute_ops) / graph.num_ranks, graph.collectives.size(), result.num_links,
        static_cast<unsigned long long>(result.events), static_cast<unsigned long long>(result.flows),
        static_cast<unsigned long long>(result.analytic_flows), result.mirrored_ranks,
        result.makespan_s, build_s, result.platform_setup_s, result.wall_s, total_s, peak_rss_mib(),
        options.comm_window);
    if (timings) {
      for (const auto& op : result.ops) std::printf("%.17g %.17g\n", op.start_s, op.end_s);
    }
    std::fflush(stdout);
    std::_Exit(0);  // skip the teardown of a large simulation
  } catch (const moesim::config::ConfigError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

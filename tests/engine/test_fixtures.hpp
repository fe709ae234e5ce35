#pragma once
// Tiny clusters built in code for engine tests, plus a fork helper that runs one simulation in a child process
// (SimGrid allows one simulation per process), returning makespan and per-op times bit-exactly.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/topology_config.hpp"
#include "engine/simulation.hpp"
#include "model/op_graph.hpp"

namespace moesim::test {

inline config::SourcedValue sv(double value) {
  return {value, "test fixture", true};
}

// 100 TFLOP/s bf16/fp16, 200 TOP/s int8, 1 TB/s HBM, 2 us launch overhead.
inline config::DeviceSpec test_device() {
  config::DeviceSpec d;
  d.name = "test-npu";
  d.peak_flops[config::Dtype::BF16] = sv(100e12);
  d.peak_flops[config::Dtype::FP16] = sv(100e12);
  d.peak_flops[config::Dtype::INT8] = sv(200e12);
  d.memory_bytes = sv(64e9);
  d.memory_bandwidth_bytes_per_s = sv(1e12);
  const double eff[4][2] = {{0.8, 0.9}, {0.6, 0.7}, {0.5, 0.8}, {0.3, 0.85}};  // matmul, grouped, attention, vector
  for (int i = 0; i < 4; ++i) {
    d.efficiency[static_cast<std::size_t>(i)].compute = sv(eff[i][0]);
    d.efficiency[static_cast<std::size_t>(i)].memory = sv(eff[i][1]);
  }
  d.launch_overhead_s = sv(2e-6);
  d.host_link_bandwidth_bytes_per_s = sv(32e9);
  return d;
}

inline config::FabricSpec fabric(const std::string& name, config::FabricKind kind, config::FabricScope scope,
                                 double bandwidth_bytes_per_s, double latency_s) {
  config::FabricSpec f;
  f.name = name;
  f.kind = kind;
  f.scope = scope;
  f.link_bandwidth_bytes_per_s = sv(bandwidth_bytes_per_s);
  f.latency_s = sv(latency_s);
  f.inter_domain_bandwidth_bytes_per_s = sv(bandwidth_bytes_per_s);
  f.inter_domain_latency_s = sv(0.0);
  f.spine_latency_s = sv(0.0);
  return f;
}

inline config::FabricSpec mesh(double bw, double lat) {
  return fabric("hccs", config::FabricKind::FullMesh, config::FabricScope::Node, bw, lat);
}
inline config::FabricSpec node_switch(double bw, double lat) {
  return fabric("sw", config::FabricKind::Switch, config::FabricScope::Node, bw, lat);
}
inline config::FabricSpec clos(double nic_bw, double lat, int nodes_per_leaf, double oversubscription, double spine_lat,
                               const std::string& name = "roce") {
  config::FabricSpec f = fabric(name, config::FabricKind::Clos, config::FabricScope::Cluster, nic_bw, lat);
  f.nodes_per_leaf = nodes_per_leaf;
  f.oversubscription = oversubscription;
  f.spine_latency_s = sv(spine_lat);
  return f;
}

inline config::TopologyConfig tiny_topology(int nodes, int ranks_per_node, std::vector<config::FabricSpec> fabrics) {
  config::TopologyConfig t;
  t.file = "<test>";
  t.name = "tiny";
  t.device = test_device();
  t.nodes = nodes;
  t.devices_per_node = ranks_per_node;
  t.fabrics = std::move(fabrics);
  return t;
}

inline model::Op compute_op(int rank, int stream, double flops, double bytes,
                            config::OpClass op_class = config::OpClass::Matmul,
                            config::Dtype dtype = config::Dtype::BF16) {
  model::Op op;
  op.name = "compute";
  op.kind = model::OpKind::Compute;
  op.rank = rank;
  op.stream = stream;
  op.compute = {op_class, dtype, flops, bytes};
  return op;
}

// The op of `rank` in collective `index` of the graph, on `stream`.
inline model::Op collective_op(int index, int rank, int stream, std::vector<model::OpId> deps = {}) {
  model::Op op;
  op.name = "c" + std::to_string(index);
  op.kind = model::OpKind::Collective;
  op.rank = rank;
  op.stream = stream;
  op.collective = index;
  op.deps = std::move(deps);
  return op;
}

inline model::Collective collective(model::CollectiveKind kind, model::CollectiveAlgorithm algorithm,
                                    std::vector<int> ranks, double elements,
                                    config::Dtype dtype = config::Dtype::BF16) {
  model::Collective c;
  c.kind = kind;
  c.algorithm = algorithm;
  c.ranks = std::move(ranks);
  c.elements = elements;
  c.dtype = dtype;
  return c;
}

inline std::vector<int> range(int begin, int end) {
  std::vector<int> r;
  for (int i = begin; i < end; ++i) r.push_back(i);
  return r;
}

// Runs simulate() in a forked child; returns what `extract` makes of the result. Throws if the child failed.
template <class Extract>
std::vector<double> simulate_in_child_with(const config::TopologyConfig& topology, const model::OpGraph& graph,
                                           const engine::EngineOptions& options, Extract extract) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    int code = 0;
    try {
      const std::vector<double> out = extract(engine::simulate(topology, graph, options));
      const char* p = reinterpret_cast<const char*>(out.data());
      std::size_t left = out.size() * sizeof(double);
      while (left > 0) {
        const ssize_t n = write(fds[1], p, left);
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    } catch (...) {
      code = 3;
    }
    close(fds[1]);
    _exit(code);
  }
  close(fds[1]);
  std::string bytes;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof buffer)) > 0) bytes.append(buffer, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("child simulation failed");
  std::vector<double> out(bytes.size() / sizeof(double));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(double));
  return out;
}

// {makespan, start_0, end_0, start_1, ...}
inline std::vector<double> simulate_in_child(const config::TopologyConfig& topology, const model::OpGraph& graph,
                                             const engine::EngineOptions& options = {}) {
  return simulate_in_child_with(topology, graph, options, [](const engine::SimulationResult& r) {
    std::vector<double> out{r.makespan_s};
    for (const auto& op : r.ops) out.insert(out.end(), {op.start_s, op.end_s});
    return out;
  });
}

}  // namespace moesim::test

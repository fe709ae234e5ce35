#include "metrics/chrome_trace.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace moesim::metrics {

using nlohmann::json;

namespace {

std::string stream_name(int stream) {
  return stream == 0 ? "compute" : "comm" + std::to_string(stream);
}

}  // namespace

void write_chrome_trace(const std::string& path, const model::OpGraph& graph, const engine::SimulationResult& result) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write trace file " + path);
  out << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  bool first = true;
  auto emit = [&](const json& event) {
    out << (first ? "" : ",\n") << event.dump();
    first = false;
  };
  std::set<std::pair<int, int>> threads;
  for (const auto& op : graph.ops) threads.insert({op.rank, op.stream});
  std::set<int> processes;
  for (const auto& [rank, stream] : threads) {
    if (processes.insert(rank).second) {
      emit({{"ph", "M"}, {"name", "process_name"}, {"pid", rank}, {"args", {{"name", "NPU " + std::to_string(rank)}}}});
      emit({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", rank}, {"args", {{"sort_index", rank}}}});
    }
    emit({{"ph", "M"},
          {"name", "thread_name"},
          {"pid", rank},
          {"tid", stream},
          {"args", {{"name", stream_name(stream)}}}});
  }
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    const auto& timing = result.ops[id];
    json args = {{"phase", op.phase}};
    if (op.kind == model::OpKind::Compute) {
      args["class"] = config::to_string(op.compute.op_class);
      args["dtype"] = config::to_string(op.compute.dtype);
      args["flops"] = op.compute.flops;
      args["bytes"] = op.compute.bytes;
    } else if (op.kind == model::OpKind::Collective) {
      const auto& collective = graph.collectives[static_cast<std::size_t>(op.collective)];
      args["collective"] = model::to_string(collective.kind);
      args["algorithm"] = model::to_string(collective.algorithm);
      args["group_size"] = collective.ranks.size();
      args["bytes"] = collective.bytes();
    }
    emit({{"ph", "X"},
          {"name", op.name},
          {"pid", op.rank},
          {"tid", op.stream},
          {"ts", timing.start_s * 1e6},
          {"dur", (timing.end_s - timing.start_s) * 1e6},
          {"args", args}});
  }
  out << "\n]}\n";
  if (!out) throw std::runtime_error("cannot write trace file " + path);
}

}  // namespace moesim::metrics

#include "metrics/npu_usage.hpp"

#include <algorithm>

#include "metrics/intervals.hpp"

namespace moesim::metrics {

std::vector<NpuUsage> npu_usage(const model::OpGraph& graph, const engine::SimulationResult& result) {
  const auto ranks = static_cast<std::size_t>(graph.num_ranks);
  std::vector<std::vector<Interval>> compute(ranks), comm(ranks), host(ranks);
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    if (result.timing_source(op.rank) != op.rank) continue;  // a mirrored rank: its leader's usage, below
    const Interval interval{result.ops[id].start_s, result.ops[id].end_s};
    auto& bucket = op.kind == model::OpKind::Compute ? compute : op.kind == model::OpKind::Collective ? comm : host;
    bucket[static_cast<std::size_t>(op.rank)].push_back(interval);
  }
  std::vector<NpuUsage> usage(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto source = static_cast<std::size_t>(result.timing_source(static_cast<int>(r)));
    if (source != r) {
      usage[r] = usage[source];
      usage[r].rank = static_cast<int>(r);
      continue;
    }
    const auto c = merge_intervals(compute[r]);
    const auto m = merge_intervals(comm[r]);
    const auto h = merge_intervals(host[r]);
    std::vector<Interval> all = c;
    all.insert(all.end(), m.begin(), m.end());
    all.insert(all.end(), h.begin(), h.end());
    usage[r].rank = static_cast<int>(r);
    usage[r].busy_s = intervals_length(c);
    usage[r].comm_s = intervals_length(m);
    usage[r].host_s = intervals_length(h);
    usage[r].idle_s = std::max(0.0, result.makespan_s - intervals_length(merge_intervals(all)));
    usage[r].exposed_comm_s = uncovered_length(m, c);
  }
  return usage;
}

std::map<std::string, double> phase_time_s(const model::OpGraph& graph, const engine::SimulationResult& result) {
  // Summed in op order per phase name; the name's slot is looked up only when it changes from the last op's.
  std::map<std::string, double> totals;
  std::vector<char> seen(static_cast<std::size_t>(graph.num_ranks), 0);
  std::size_t ranks = 0;
  const model::Label* last = nullptr;
  double* slot = nullptr;
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    if (last == nullptr || op.phase != *last) {
      slot = &totals[op.phase.empty() ? "other" : op.phase];
      last = &op.phase;
    }
    *slot += result.ops[id].end_s - result.ops[id].start_s;
    if (!seen[static_cast<std::size_t>(op.rank)]) {
      seen[static_cast<std::size_t>(op.rank)] = 1;
      ++ranks;
    }
  }
  if (ranks > 0) {
    for (auto& [phase, seconds] : totals) seconds /= static_cast<double>(ranks);
  }
  return totals;
}

}  // namespace moesim::metrics

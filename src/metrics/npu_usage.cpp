#include "metrics/npu_usage.hpp"

#include <algorithm>
#include <set>

namespace moesim::metrics {

namespace {

using Interval = std::pair<double, double>;

std::vector<Interval> merged(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end());
  std::vector<Interval> out;
  for (const auto& interval : intervals) {
    if (interval.second <= interval.first) continue;
    if (!out.empty() && interval.first <= out.back().second) {
      out.back().second = std::max(out.back().second, interval.second);
    } else {
      out.push_back(interval);
    }
  }
  return out;
}

double length(const std::vector<Interval>& intervals) {
  double total = 0;
  for (const auto& [start, end] : intervals) total += end - start;
  return total;
}

// Length of `a` not covered by `b` (both merged and sorted).
double uncovered(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  double total = 0;
  std::size_t j = 0;
  for (const auto& [start, end] : a) {
    double cursor = start;
    while (j < b.size() && b[j].second <= cursor) ++j;
    for (std::size_t k = j; k < b.size() && b[k].first < end; ++k) {
      if (b[k].first > cursor) total += b[k].first - cursor;
      cursor = std::max(cursor, b[k].second);
      if (cursor >= end) break;
    }
    if (cursor < end) total += end - cursor;
  }
  return total;
}

}  // namespace

std::vector<NpuUsage> npu_usage(const model::OpGraph& graph, const engine::SimulationResult& result) {
  const auto ranks = static_cast<std::size_t>(graph.num_ranks);
  std::vector<std::vector<Interval>> compute(ranks), comm(ranks), host(ranks);
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    const Interval interval{result.ops[id].start_s, result.ops[id].end_s};
    auto& bucket = op.kind == model::OpKind::Compute      ? compute
                   : op.kind == model::OpKind::Collective ? comm
                                                          : host;
    bucket[static_cast<std::size_t>(op.rank)].push_back(interval);
  }
  std::vector<NpuUsage> usage(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto c = merged(compute[r]);
    const auto m = merged(comm[r]);
    const auto h = merged(host[r]);
    std::vector<Interval> all = c;
    all.insert(all.end(), m.begin(), m.end());
    all.insert(all.end(), h.begin(), h.end());
    usage[r].rank = static_cast<int>(r);
    usage[r].busy_s = length(c);
    usage[r].comm_s = length(m);
    usage[r].host_s = length(h);
    usage[r].idle_s = std::max(0.0, result.makespan_s - length(merged(all)));
    usage[r].exposed_comm_s = uncovered(m, c);
  }
  return usage;
}

std::map<std::string, double> phase_time_s(const model::OpGraph& graph, const engine::SimulationResult& result) {
  std::map<std::string, double> totals;
  std::set<int> ranks;
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    totals[op.phase.empty() ? "other" : op.phase] += result.ops[id].end_s - result.ops[id].start_s;
    ranks.insert(op.rank);
  }
  if (!ranks.empty()) {
    for (auto& [phase, seconds] : totals) seconds /= static_cast<double>(ranks.size());
  }
  return totals;
}

}  // namespace moesim::metrics

#include "metrics/ep_overlap.hpp"

#include "metrics/intervals.hpp"

namespace moesim::metrics {

EpOverlap ep_overlap(const model::OpGraph& graph, const engine::SimulationResult& result) {
  EpOverlap out;
  if (result.ops.size() != graph.ops.size()) return out;
  const auto ranks = static_cast<std::size_t>(graph.num_ranks);
  std::vector<std::vector<Interval>> compute(ranks), ep(ranks);
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    const Interval i{result.ops[id].start_s, result.ops[id].end_s};
    if (op.kind == model::OpKind::Compute) {
      compute[static_cast<std::size_t>(op.rank)].push_back(i);
    } else if (op.kind == model::OpKind::Collective && op.phase == "ep_comm") {
      ep[static_cast<std::size_t>(op.rank)].push_back(i);
    }
  }
  double fraction = 0.0, total = 0.0, exposed = 0.0;
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto e = merge_intervals(std::move(ep[r]));
    const double length = intervals_length(e);
    if (!(length > 0.0)) continue;
    const double uncovered = uncovered_length(e, merge_intervals(std::move(compute[r])));
    ++out.ranks;
    total += length;
    exposed += uncovered;
    fraction += (length - uncovered) / length;
  }
  if (out.ranks == 0) return out;
  out.hidden_fraction = fraction / out.ranks;
  out.ep_time_s = total / out.ranks;
  out.exposed_s = exposed / out.ranks;
  return out;
}

}  // namespace moesim::metrics

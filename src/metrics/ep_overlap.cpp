#include "metrics/ep_overlap.hpp"

#include <algorithm>

#include "metrics/intervals.hpp"

namespace moesim::metrics {

namespace {

// Per rank: the merged time windows of its stage's steady phases (first to last compute op of the rank in each).
// One pass over the ops: each rank looks only at the phases it belongs to; a mirrored rank takes its leader's span.
std::vector<std::vector<Interval>> steady_windows(const model::OpGraph& graph, const engine::SimulationResult& result,
                                                  const std::vector<strategy::SteadyPhase>& steady) {
  const auto ranks = static_cast<std::size_t>(graph.num_ranks);
  std::vector<std::vector<Interval>> windows(ranks);
  if (steady.empty()) return windows;
  std::vector<std::vector<std::size_t>> phases_of(ranks);
  for (std::size_t p = 0; p < steady.size(); ++p) {
    for (int r : steady[p].ranks) phases_of[static_cast<std::size_t>(r)].push_back(p);
  }
  auto member = [&](std::size_t p, int r) {
    const auto& of = phases_of[static_cast<std::size_t>(r)];
    return std::find(of.begin(), of.end(), p) != of.end();
  };
  std::vector<Interval> span(steady.size() * ranks, {0.0, -1.0});  // [phase * ranks + rank]
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    if (op.kind != model::OpKind::Compute) continue;
    const int source = result.timing_source(op.rank);
    for (std::size_t p : phases_of[static_cast<std::size_t>(op.rank)]) {
      if (id < steady[p].first_op || id >= steady[p].end_op) continue;
      if (source != op.rank && member(p, source)) continue;  // mirrored: its leader's span, below
      auto& s = span[p * ranks + static_cast<std::size_t>(op.rank)];
      if (s.second < s.first) s = {result.ops[id].start_s, result.ops[id].end_s};
      s.first = std::min(s.first, result.ops[id].start_s);
      s.second = std::max(s.second, result.ops[id].end_s);
    }
  }
  for (std::size_t r = 0; r < ranks; ++r) {
    const int source = result.timing_source(static_cast<int>(r));
    for (std::size_t p : phases_of[r]) {
      const auto from = static_cast<std::size_t>(source) != r && member(p, source) ? static_cast<std::size_t>(source) : r;
      const Interval& s = span[p * ranks + from];
      if (s.second > s.first) windows[r].push_back(s);
    }
    windows[r] = merge_intervals(std::move(windows[r]));
  }
  return windows;
}

}  // namespace

EpOverlap ep_overlap(const model::OpGraph& graph, const engine::SimulationResult& result,
                     const std::vector<strategy::SteadyPhase>& steady, const std::string& phase) {
  EpOverlap out;
  if (result.ops.size() != graph.ops.size()) return out;
  const auto ranks = static_cast<std::size_t>(graph.num_ranks);
  std::vector<std::vector<Interval>> compute(ranks), ep(ranks);
  for (std::size_t id = 0; id < graph.ops.size(); ++id) {
    const auto& op = graph.ops[id];
    if (result.timing_source(op.rank) != op.rank) continue;  // mirrored: its leader's figures, below
    const Interval i{result.ops[id].start_s, result.ops[id].end_s};
    if (op.kind == model::OpKind::Compute) {
      compute[static_cast<std::size_t>(op.rank)].push_back(i);
    } else if (op.kind == model::OpKind::Collective && op.phase == phase) {
      ep[static_cast<std::size_t>(op.rank)].push_back(i);
    }
  }
  const auto windows = steady_windows(graph, result, steady);
  // Per rank: EP time, its uncovered part, and the same inside the steady windows (a mirrored rank has its
  // leader's, computed first since the leader's rank is lower).
  struct RankFigures {
    double length = 0.0, uncovered = 0.0, inside = 0.0, inside_uncovered = 0.0;
  };
  std::vector<RankFigures> figures(ranks);
  double fraction = 0.0, total = 0.0, exposed = 0.0, steady_fraction = 0.0, share = 0.0;
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto source = static_cast<std::size_t>(result.timing_source(static_cast<int>(r)));
    RankFigures& f = figures[r];
    if (source != r) {
      f = figures[source];
    } else {
      const auto e = merge_intervals(std::move(ep[r]));
      f.length = intervals_length(e);
      if (f.length > 0.0) {
        const auto busy = merge_intervals(std::move(compute[r]));
        f.uncovered = uncovered_length(e, busy);
        const auto inside = intersect_intervals(e, windows[r]);
        f.inside = intervals_length(inside);
        if (f.inside > 0.0) f.inside_uncovered = uncovered_length(inside, busy);
      }
    }
    if (!(f.length > 0.0)) continue;
    ++out.ranks;
    total += f.length;
    exposed += f.uncovered;
    fraction += (f.length - f.uncovered) / f.length;
    share += f.inside / f.length;
    if (!(f.inside > 0.0)) continue;
    ++out.steady_ranks;
    steady_fraction += 1.0 - f.inside_uncovered / f.inside;
  }
  if (out.ranks == 0) return out;
  out.hidden_fraction = fraction / out.ranks;
  out.ep_time_s = total / out.ranks;
  out.exposed_s = exposed / out.ranks;
  out.steady_share = share / out.ranks;
  if (out.steady_ranks > 0) out.steady_hidden_fraction = steady_fraction / out.steady_ranks;
  return out;
}

}  // namespace moesim::metrics

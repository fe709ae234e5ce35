#pragma once
// Time-interval arithmetic over simulated op timelines (merge, length, coverage), shared by the metrics.
#include <utility>
#include <vector>

namespace moesim::metrics {

using Interval = std::pair<double, double>;  // [start_s, end_s)

// Sorted, non-overlapping union; empty intervals are dropped.
std::vector<Interval> merge_intervals(std::vector<Interval> intervals);
// Total length of merged intervals.
double intervals_length(const std::vector<Interval>& merged);
// Total length of merged intervals inside [lo, hi].
double clipped_length(const std::vector<Interval>& merged, double lo, double hi);
// Intersection of merged `a` and merged `b` (merged).
std::vector<Interval> intersect_intervals(const std::vector<Interval>& a, const std::vector<Interval>& b);
// Length of merged `a` not covered by merged `b`.
double uncovered_length(const std::vector<Interval>& a, const std::vector<Interval>& b);

}  // namespace moesim::metrics

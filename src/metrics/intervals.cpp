#include "metrics/intervals.hpp"

#include <algorithm>

namespace moesim::metrics {

std::vector<Interval> merge_intervals(std::vector<Interval> intervals) {
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

double intervals_length(const std::vector<Interval>& merged) {
  double total = 0;
  for (const auto& [start, end] : merged) total += end - start;
  return total;
}

double clipped_length(const std::vector<Interval>& merged, double lo, double hi) {
  double total = 0.0;
  for (const auto& [a, b] : merged) total += std::max(0.0, std::min(b, hi) - std::max(a, lo));
  return total;
}

std::vector<Interval> intersect_intervals(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  std::vector<Interval> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const double lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (hi > lo) out.push_back({lo, hi});
    (a[i].second < b[j].second ? i : j)++;
  }
  return out;
}

double uncovered_length(const std::vector<Interval>& a, const std::vector<Interval>& b) {
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

}  // namespace moesim::metrics

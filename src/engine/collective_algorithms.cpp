#include "engine/collective_algorithms.hpp"

#include <algorithm>

namespace moesim::engine::detail {

using model::CollectiveKind;

namespace {

void add_flow(CollectivePhase& phase, int src, int dst, double bytes) {
  if (bytes > 0.0 && src != dst) phase.flows.push_back({src, dst, bytes});
}

// One phase where position i sends `bytes` to position i+1 (mod p).
CollectivePhase ring_phase(const std::vector<int>& m, double bytes, double steps) {
  CollectivePhase phase;
  const std::size_t p = m.size();
  for (std::size_t i = 0; i < p; ++i) add_flow(phase, m[i], m[(i + 1) % p], bytes);
  phase.latency_steps = steps;
  return phase;
}

// One phase where every ordered pair exchanges `bytes`.
CollectivePhase all_pairs_phase(const std::vector<int>& m, double bytes, double steps) {
  CollectivePhase phase;
  for (int a : m) {
    for (int b : m) add_flow(phase, a, b, bytes);
  }
  phase.latency_steps = steps;
  return phase;
}

// Recursive halving (reduce-scatter) or doubling (all-gather) steps, one phase per step.
void hd_steps(std::vector<CollectivePhase>& out, const std::vector<int>& m, double bytes, bool halving) {
  const std::size_t p = m.size();
  for (std::size_t k = 0; (std::size_t{1} << k) < p; ++k) {
    const std::size_t dist = halving ? p >> (k + 1) : std::size_t{1} << k;
    const double chunk = halving ? bytes / static_cast<double>(std::size_t{2} << k)
                                 : bytes / static_cast<double>(p) * static_cast<double>(std::size_t{1} << k);
    CollectivePhase phase;
    for (std::size_t i = 0; i < p; ++i) add_flow(phase, m[i], m[i ^ dist], chunk);
    phase.latency_steps = 1.0;
    out.push_back(std::move(phase));
  }
}

}  // namespace

bool is_power_of_two(std::size_t n) {
  return n > 0 && (n & (n - 1)) == 0;
}

std::vector<CollectivePhase> flat_phases(CollectiveKind kind, Flat algorithm, const std::vector<int>& m, double bytes,
                                         int root_pos) {
  std::vector<CollectivePhase> out;
  const std::size_t p = m.size();
  if (p < 2) return out;
  const double pd = static_cast<double>(p);
  if (kind == CollectiveKind::SendRecv) {
    CollectivePhase phase;
    add_flow(phase, m[0], m[1], bytes);
    phase.latency_steps = 1.0;
    out.push_back(std::move(phase));
    return out;
  }
  if (kind == CollectiveKind::AllToAll || kind == CollectiveKind::AllToAllV) {
    const double per_pair = bytes / pd;
    return alltoallv_phases(algorithm, m, [per_pair](int, int) { return per_pair; });
  }
  if (algorithm == Flat::HalvingDoubling && !is_power_of_two(p)) algorithm = Flat::Ring;
  const std::size_t root = static_cast<std::size_t>(root_pos) % p;
  switch (algorithm) {
    case Flat::Ring:
      switch (kind) {
        case CollectiveKind::AllReduce:
          out.push_back(ring_phase(m, 2.0 * (pd - 1.0) / pd * bytes, 2.0 * (pd - 1.0)));
          break;
        case CollectiveKind::ReduceScatter:
        case CollectiveKind::AllGather:
          out.push_back(ring_phase(m, (pd - 1.0) / pd * bytes, pd - 1.0));
          break;
        default: {  // Broadcast: pipelined chain from the root; every hop carries the whole buffer
          CollectivePhase phase;
          for (std::size_t k = 0; k + 1 < p; ++k) add_flow(phase, m[(root + k) % p], m[(root + k + 1) % p], bytes);
          phase.latency_steps = pd - 1.0;
          out.push_back(std::move(phase));
        }
      }
      break;
    case Flat::Direct:
      switch (kind) {
        case CollectiveKind::AllReduce:
          out.push_back(all_pairs_phase(m, 2.0 * bytes / pd, 2.0));
          break;
        case CollectiveKind::ReduceScatter:
        case CollectiveKind::AllGather:
          out.push_back(all_pairs_phase(m, bytes / pd, 1.0));
          break;
        default: {
          CollectivePhase phase;
          for (std::size_t i = 0; i < p; ++i) add_flow(phase, m[root], m[i], bytes);
          phase.latency_steps = 1.0;
          out.push_back(std::move(phase));
        }
      }
      break;
    case Flat::HalvingDoubling:
      switch (kind) {
        case CollectiveKind::AllReduce:
          hd_steps(out, m, bytes, true);
          hd_steps(out, m, bytes, false);
          break;
        case CollectiveKind::ReduceScatter:
          hd_steps(out, m, bytes, true);
          break;
        case CollectiveKind::AllGather:
          hd_steps(out, m, bytes, false);
          break;
        default:  // Broadcast: binomial tree, log2(p) steps of the whole buffer
          for (std::size_t span = 1; span < p; span <<= 1) {
            CollectivePhase phase;
            for (std::size_t rel = 0; rel < span; ++rel)
              add_flow(phase, m[(root + rel) % p], m[(root + rel + span) % p], bytes);
            phase.latency_steps = 1.0;
            out.push_back(std::move(phase));
          }
      }
      break;
  }
  return out;
}

std::vector<CollectivePhase> alltoallv_phases(Flat algorithm, const std::vector<int>& m,
                                              const std::function<double(int, int)>& matrix) {
  std::vector<CollectivePhase> out;
  const std::size_t p = m.size();
  if (p < 2) return out;
  CollectivePhase phase;
  if (algorithm == Flat::Ring) {
    // Data from position a to b travels a -> a+1 -> ... -> b; hop h (h -> h+1) carries every pair crossing it.
    std::vector<double> diff(p + 1, 0.0);
    for (std::size_t a = 0; a < p; ++a) {
      for (std::size_t b = 0; b < p; ++b) {
        if (a == b) continue;
        const double v = matrix(static_cast<int>(a), static_cast<int>(b));
        if (!(v > 0.0)) continue;
        if (a < b) {
          diff[a] += v;
          diff[b] -= v;
        } else {  // wraps: hops a..p-1 and 0..b-1
          diff[a] += v;
          diff[p] -= v;
          diff[0] += v;
          diff[b] -= v;
        }
      }
    }
    double load = 0.0;
    for (std::size_t h = 0; h < p; ++h) {
      load += diff[h];
      add_flow(phase, m[h], m[(h + 1) % p], load);
    }
    phase.latency_steps = static_cast<double>(p - 1);
  } else {
    for (std::size_t a = 0; a < p; ++a) {
      for (std::size_t b = 0; b < p; ++b) {
        if (a != b) add_flow(phase, m[a], m[b], matrix(static_cast<int>(a), static_cast<int>(b)));
      }
    }
    phase.latency_steps = 1.0;
  }
  out.push_back(std::move(phase));
  return out;
}

std::vector<CollectivePhase> merge_parallel(const std::vector<std::vector<CollectivePhase>>& lists) {
  std::vector<CollectivePhase> out;
  for (const auto& list : lists) {
    if (out.size() < list.size()) out.resize(list.size());
    for (std::size_t k = 0; k < list.size(); ++k) {
      out[k].flows.insert(out[k].flows.end(), list[k].flows.begin(), list[k].flows.end());
      out[k].latency_steps = std::max(out[k].latency_steps, list[k].latency_steps);
    }
  }
  return out;
}

}  // namespace moesim::engine::detail

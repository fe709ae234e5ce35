// OmniPlacement's redundant experts (facts section 5): where the extra copies go and what share of a layer's rows
// each EP rank then receives (declared in model/expert_load.hpp).
#include <algorithm>

#include "model/expert_load.hpp"

namespace moesim::model {

std::vector<ReplicaSlot> place_replicas(const std::vector<double>& shares, int ep_size, int redundant_per_rank) {
  const auto experts = static_cast<int>(shares.size());
  std::vector<int> copies(shares.size(), 1);
  for (int k = 0; k < ep_size * redundant_per_rank; ++k) {  // each extra slot to the largest share per copy
    int best = -1;
    for (int e = 0; e < experts; ++e) {
      const auto i = static_cast<std::size_t>(e);
      if (copies[i] >= ep_size) continue;
      if (best < 0 || shares[i] / copies[i] > shares[static_cast<std::size_t>(best)] / copies[static_cast<std::size_t>(best)])
        best = e;
    }
    if (best < 0) break;
    ++copies[static_cast<std::size_t>(best)];
  }
  struct Unit {
    int expert;
    double share;
  };
  std::vector<Unit> units;
  for (int e = 0; e < experts; ++e) {
    const auto i = static_cast<std::size_t>(e);
    for (int c = 0; c < copies[i]; ++c) units.push_back({e, shares[i] / copies[i]});
  }
  std::stable_sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) { return a.share > b.share; });
  const int slots = experts / ep_size + redundant_per_rank;
  std::vector<double> load(static_cast<std::size_t>(ep_size), 0.0);
  std::vector<int> used(static_cast<std::size_t>(ep_size), 0);
  std::vector<std::vector<char>> holds(static_cast<std::size_t>(ep_size), std::vector<char>(shares.size(), 0));
  std::vector<ReplicaSlot> out;
  for (const auto& u : units) {
    int best = -1;
    for (int pass = 0; pass < 2 && best < 0; ++pass) {  // a rank without a copy of the expert first
      for (int r = 0; r < ep_size; ++r) {
        const auto j = static_cast<std::size_t>(r);
        if (used[j] == slots || (pass == 0 && holds[j][static_cast<std::size_t>(u.expert)])) continue;
        if (best < 0 || load[j] < load[static_cast<std::size_t>(best)]) best = r;
      }
    }
    const auto j = static_cast<std::size_t>(best);
    load[j] += u.share;
    ++used[j];
    holds[j][static_cast<std::size_t>(u.expert)] = 1;
    out.push_back({u.expert, copies[static_cast<std::size_t>(u.expert)], best});
  }
  return out;
}

std::vector<double> rank_shares_of_replicas(const std::vector<ReplicaSlot>& slots, const std::vector<double>& shares,
                                            int ep_size) {
  std::vector<double> load(static_cast<std::size_t>(ep_size), 0.0);
  for (const auto& slot : slots) {
    load[static_cast<std::size_t>(slot.rank)] += shares[static_cast<std::size_t>(slot.expert)] / slot.copies;
  }
  return load;
}

std::vector<double> rank_shares_with_replicas(const std::vector<double>& shares, int ep_size, int redundant_per_rank) {
  return rank_shares_of_replicas(place_replicas(shares, ep_size, redundant_per_rank), shares, ep_size);
}

}  // namespace moesim::model

#include "strategy/training_dp_reduction.hpp"

#include <algorithm>

#include "model/training_layout.hpp"

namespace moesim::strategy {

int reduced_dp(const config::ParallelLayout& parallel) {
  const model::TrainingLayout layout(parallel, parallel.dp);
  const int span = layout.ep_span_replicas();
  const int group = parallel.expert_parallel_size() * parallel.expert_tp;
  for (int d = span + 2; d < parallel.dp; ++d) {
    if ((parallel.tp * parallel.cp * d) % group == 0) return d;
  }
  return parallel.dp;
}

double dp_volume_scale(int full, int simulated) {
  if (full <= 1 || simulated <= 1) return 1.0;
  return ((full - 1.0) / full) / ((simulated - 1.0) / simulated);
}

double ring_step_latency_s(const config::TopologyConfig& topology, const std::vector<int>& ranks) {
  const int per_node = topology.ranks_per_node();
  double alpha = 0.0;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const int a = ranks[i], b = ranks[(i + 1) % ranks.size()];
    const config::FabricSpec* f = topology.fabric_between(a, b);
    if (f == nullptr) continue;
    double latency = f->latency_s.value;
    const int leaf_size = std::max(1, f->nodes_per_leaf);
    if (f->kind == config::FabricKind::Clos && (a / per_node) / leaf_size != (b / per_node) / leaf_size) {
      latency += f->spine_latency_s.value;
    }
    alpha = std::max(alpha, latency);
  }
  return alpha;
}

}  // namespace moesim::strategy

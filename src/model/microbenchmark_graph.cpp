#include "model/microbenchmark_graph.hpp"

#include <random>
#include <stdexcept>

namespace moesim::model {

namespace {

std::vector<double> skewed_pairs(int p, double elements_per_rank, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::vector<double> matrix(static_cast<std::size_t>(p) * p, 0.0);
  const double mean_pair = elements_per_rank / p;
  for (int src = 0; src < p; ++src) {
    for (int dst = 0; dst < p; ++dst) {
      // 53 random bits -> [0, 1); avoids implementation-defined distributions for byte-identical results.
      const double unit = static_cast<double>(generator() >> 11) * 0x1.0p-53;
      matrix[static_cast<std::size_t>(src) * p + dst] = src == dst ? 0.0 : mean_pair * (0.5 + unit);
    }
  }
  return matrix;
}

}  // namespace

OpGraph build_microbenchmark_graph(const config::MicrobenchmarkWorkload& workload, int num_ranks,
                                   std::uint64_t seed) {
  Collective collective;
  if (!parse_collective_kind(workload.operation, collective.kind)) {
    throw std::invalid_argument("unknown collective \"" + workload.operation + "\"");
  }
  if (!parse_collective_algorithm(workload.algorithm, collective.algorithm)) {
    throw std::invalid_argument("unknown collective algorithm \"" + workload.algorithm + "\"");
  }
  collective.ranks = workload.ranks;
  collective.dtype = workload.dtype;
  collective.elements = workload.size_bytes / config::bytes_per_element(workload.dtype);
  const int p = static_cast<int>(workload.ranks.size());
  if (collective.kind == CollectiveKind::AllToAllV) {
    collective.per_pair_elements = skewed_pairs(p, collective.elements, seed);
  }

  OpGraph graph;
  graph.num_ranks = num_ranks;
  std::vector<std::vector<OpId>> previous(static_cast<std::size_t>(p));
  for (int iteration = 0; iteration < workload.iterations; ++iteration) {
    const auto ops = graph.add_collective_ops(workload.operation + "#" + std::to_string(iteration), "collective",
                                              collective, kCommStream, previous);
    for (int i = 0; i < p; ++i) previous[static_cast<std::size_t>(i)] = {ops[static_cast<std::size_t>(i)]};
  }
  return graph;
}

double bus_bandwidth_factor(CollectiveKind kind, int group_size) {
  const double n = group_size;
  switch (kind) {
    case CollectiveKind::AllReduce: return 2.0 * (n - 1) / n;
    case CollectiveKind::AllGather:
    case CollectiveKind::ReduceScatter:
    case CollectiveKind::AllToAll:
    case CollectiveKind::AllToAllV: return (n - 1) / n;
    case CollectiveKind::Broadcast:
    case CollectiveKind::SendRecv: return 1.0;
  }
  return 1.0;
}

}  // namespace moesim::model

#pragma once
// The operator graph of a collective microbenchmark (hccl_test / nccl-tests style): `iterations`
// back-to-back runs of one collective over a group, on each member's communication stream.
#include <cstdint>

#include "config/scenario_config.hpp"
#include "model/op_graph.hpp"

namespace moesim::model {

inline constexpr int kComputeStream = 0;
inline constexpr int kCommStream = 1;

// `num_ranks` is the scenario's rank count. AllToAllV draws per-pair sizes uniformly in
// [0.5, 1.5] x the mean from `seed` (deterministic), so that the busiest link decides the time.
OpGraph build_microbenchmark_graph(const config::MicrobenchmarkWorkload& workload, int num_ranks, std::uint64_t seed);

// nccl-tests bus-bandwidth factor: busbw = algbw x factor (allreduce 2(n-1)/n; allgather, reducescatter,
// alltoall(v) (n-1)/n; broadcast, sendrecv 1).
double bus_bandwidth_factor(CollectiveKind kind, int group_size);

}  // namespace moesim::model

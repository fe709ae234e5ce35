#pragma once
// DP-symmetry reduction of the training step (docs/training.md): how many data-parallel replicas to simulate, and
// how to correct a reduced ring's volume and latency so that each member sees the full-DP collective.
#include <vector>

#include "config/scenario_config.hpp"
#include "config/topology_config.hpp"

namespace moesim::strategy {

// The automatic number of DP replicas the reduction keeps: the smallest D >= span + 2 that keeps the expert
// groups whole (span = replicas one expert-parallel group covers); dp when no reduction is possible or useful.
int reduced_dp(const config::ParallelLayout& parallel);

// Scale for a ring collective's elements when a group of `full` members is simulated with `simulated` members, so
// that each member sends the same bytes: ((full - 1) / full) / ((simulated - 1) / simulated).
double dp_volume_scale(int full, int simulated);

// Latency of one ring step among `ranks` as the engine routes it (fabric latency, plus the spine latency when a
// Clos route leaves the leaf): the largest over neighbouring members.
double ring_step_latency_s(const config::TopologyConfig& topology, const std::vector<int>& ranks);

}  // namespace moesim::strategy

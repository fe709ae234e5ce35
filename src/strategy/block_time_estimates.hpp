#pragma once
// Analytic time of a block's op list on one rank, before any simulation: compute ops by the roofline
// (model/roofline), collectives by a bandwidth estimate over the rank's group (per-peer links inside a node, the
// scale-out port across nodes). Strategies that rank choices before simulating share it (the memory strategy's
// auto mode, stage_balance); the simulation measures the real cost.
#include <vector>

#include "config/scenario_config.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"

namespace moesim::strategy {

class BlockTimeEstimator {
 public:
  // `layout` resolves the group kinds of collectives; it must outlive the estimator.
  BlockTimeEstimator(const config::ScenarioConfig& scenario, const model::TrainingLayout& layout);

  // Whether ops can be timed: the device has a peak for `dtype` and a memory bandwidth.
  bool can_time(config::Dtype dtype) const;
  // Sum over the list (host-copy markers skipped) of roofline times and collective estimates.
  double ops_time_s(const std::vector<model::BlockOp>& ops, int rank) const;
  // Contract: the slower of the member's in-node part (its volume over its per-peer links on a full mesh, one port
  // otherwise) and its cross-node part (over its scale-out port), each plus the fabric latency; 0 for a group of 1.
  double collective_time_s(const model::BlockOp& op, int rank) const;

 private:
  const config::ScenarioConfig& scenario_;
  const model::TrainingLayout& layout_;
};

}  // namespace moesim::strategy

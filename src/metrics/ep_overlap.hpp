#pragma once
// How much of the expert-parallel all-to-all time is hidden under compute, measured on the simulated timeline.
// Definition (docs/training.md, "Metrics"): per rank, EP time = union of the intervals of its collective ops of
// phase "ep_comm" (dispatch and combine, and expert-TP collectives when expert_tp > 1; an interval runs from the
// moment the op may start, inputs ready and stream free, to its end, so waiting for peers counts); hidden = the
// part of it covered by the union of the rank's compute ops. ep_comm_hidden_fraction = mean over the ranks with
// EP time of hidden / EP time; ep_comm_exposed_s = mean over those ranks of EP time not covered by compute.
#include "engine/simulation.hpp"
#include "model/op_graph.hpp"

namespace moesim::metrics {

struct EpOverlap {
  int ranks = 0;                 // ranks with EP communication (0: the step has none)
  double hidden_fraction = 0.0;  // mean of per-rank hidden / EP time
  double ep_time_s = 0.0;        // mean per-rank EP time (union)
  double exposed_s = 0.0;        // mean per-rank EP time not covered by compute
};

// Needs result.ops (record_ops on).
EpOverlap ep_overlap(const model::OpGraph& graph, const engine::SimulationResult& result);

}  // namespace moesim::metrics

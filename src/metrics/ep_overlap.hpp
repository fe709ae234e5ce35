#pragma once
// How much of the expert-parallel all-to-all time is hidden under compute, measured on the simulated timeline.
// Definition (docs/training.md, "Metrics"): per rank, EP time = union of the intervals of its collective ops of
// phase "ep_comm" (dispatch and combine, and expert-TP collectives when expert_tp > 1; an interval runs from the
// moment the op may start, inputs ready and stream free, to its end, so waiting for peers counts); hidden = the
// part of it covered by the union of the rank's compute ops. ep_comm_hidden_fraction = mean over the ranks with
// EP time of hidden / EP time; ep_comm_exposed_s = mean over those ranks of EP time not covered by compute.
// Steady (1F1B) phase: the same measure restricted, per rank, to the windows of its stage's steady phases (from the
// start of its first compute op in the phase to the end of its last: strategy::SteadyPhase), the phase that
// MindSpeed's "100 % hidden in 1F1B, 50 % in warm-up / cool-down" figures (facts T15) refer to.
#include <string>
#include <vector>

#include "engine/simulation.hpp"
#include "model/op_graph.hpp"
#include "strategy/training_step_builder.hpp"

namespace moesim::metrics {

struct EpOverlap {
  int ranks = 0;                        // ranks with EP communication (0: the step has none)
  double hidden_fraction = 0.0;         // mean of per-rank hidden / EP time
  double ep_time_s = 0.0;               // mean per-rank EP time (union)
  double exposed_s = 0.0;               // mean per-rank EP time not covered by compute
  int steady_ranks = 0;                 // ranks with EP time inside a steady phase
  double steady_hidden_fraction = 0.0;  // mean over them of hidden / EP time, both inside the steady windows
  double steady_share = 0.0;            // mean over the ranks with EP time of the part of it in steady windows
};

// Needs result.ops (record_ops on). `phase`: the same measure for the collectives of another phase (e.g.
// "tp_comm": tensor-parallel collectives, which the tp_comm_overlap strategy hides under their matmuls).
EpOverlap ep_overlap(const model::OpGraph& graph, const engine::SimulationResult& result,
                     const std::vector<strategy::SteadyPhase>& steady = {}, const std::string& phase = "ep_comm");

}  // namespace moesim::metrics

#pragma once
// Composes the training blocks (model/training_blocks) and a pipeline schedule into the OpGraph of ONE training
// step: every stage runs its schedule's order of forward / backward (dx then dw, slot by slot) tasks; activations
// and gradients move between neighbouring virtual stages as SendRecv collectives; each model chunk's gradients are
// reduce-scattered over the data-parallel group as soon as its last backward is done (ZeRO-1), then the optimizer
// step (vector op on the rank's shard) and the parameter AllGather end the step. Backward tasks may be split into
// B (dx) and W (dw) by the schedule (zero_bubble); the scenario's overlap strategy (strategy/overlap.hpp), if any,
// decides how tasks and pairs of tasks are emitted. docs/training.md.
//
// Streams per rank: 0 compute; 1 TP/CP/EP collectives (the next compute of their task waits for them); 2 PP send to
// the next virtual stage, 3 PP receive from the previous one, 4 PP send of gradients to the previous stage, 5 their
// receive; 6 data-parallel gradient / parameter collectives; 7 / 8 device-to-host / host-to-device copies of swapped
// activations (memory strategy); 9 EP collectives an overlap strategy runs async. With `training.steps` > 1 the
// steps follow each other: a step's first forward on a rank waits for the previous step's parameter AllGathers.
#include <string>
#include <vector>

#include "config/scenario_config.hpp"
#include "model/activation_plan.hpp"
#include "model/op_graph.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_dp_reduction.hpp"

namespace moesim::strategy {

struct TrainingStepOptions {
  // DP-symmetry reduction: simulate only `simulated_dp` data-parallel replicas (0 = automatic: the replicas one
  // expert-parallel group spans, plus at least 2), with DP collective sizes scaled so that each member's ring
  // volume equals the full-DP one. false = simulate every replica.
  bool reduce_dp = true;
  int simulated_dp = 0;
};

// One stage's steady (1F1B) phase in one step: the ops emitted from its first task group holding a backward to
// its last group holding a forward, ids [first_op, end_op); only the compute ops of `ranks` (the stage's) in that
// range belong to it (other stages emit in between). Absent when the stage runs no backward before its last forward.
struct SteadyPhase {
  int stage = 0;
  std::vector<int> ranks;
  std::size_t first_op = 0, end_op = 0;
};

struct TrainingStep {
  model::OpGraph graph;
  std::string schedule;
  std::string overlap;  // the overlap strategy's name, empty when none
  int full_dp = 1;
  int simulated_dp = 1;
  int micro_batches = 0;
  std::vector<std::vector<PipelineTask>> stage_orders;  // per pipeline stage
  model::ActivationPlan activation_plan;                // what the memory strategy keeps / recomputes / swaps
  int steps = 1;                                        // consecutive steps in the graph (training.steps)
  std::vector<std::size_t> step_first_op;               // id of each step's first op; ops of a step are contiguous
  std::vector<SteadyPhase> steady_phases;               // per step and stage (metrics: EP hiding in the 1F1B phase)
};

// Throws std::invalid_argument for a scenario the builder cannot cover (not training, schedule mismatch).
TrainingStep build_training_step(const config::ScenarioConfig& scenario, const PipelineSchedule& schedule,
                                 const TrainingStepOptions& options = {});

}  // namespace moesim::strategy

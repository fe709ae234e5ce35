#pragma once
// The per-micro-batch, per-rank shape of a training step with every strategy's say in it (the moe_comm plan, the
// context-parallel algorithm and Ulysses degree, balanced_moe's hot experts): what the step builder builds and what
// the strategies that estimate a step before building it (memory plan, stage balance) time.
#include "config/scenario_config.hpp"
#include "model/training_blocks.hpp"

namespace moesim::strategy {

model::TrainingShape step_shape(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy

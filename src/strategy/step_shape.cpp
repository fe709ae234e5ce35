#include "strategy/step_shape.hpp"

#include "strategy/context_parallel.hpp"
#include "strategy/context_parallel_hybrid.hpp"
#include "strategy/expert_balancing_balanced_moe.hpp"
#include "strategy/moe_comm.hpp"

namespace moesim::strategy {

model::TrainingShape step_shape(const config::ScenarioConfig& scenario) {
  model::TrainingShape shape = model::training_shape(scenario);
  shape.moe_comm = moe_comm_plan(scenario);
  shape.cp_algorithm = cp_algorithm(scenario);
  shape.cp_ulysses = cp_ulysses_degree(scenario);
  shape.hot_experts = hot_experts(scenario);
  return shape;
}

}  // namespace moesim::strategy

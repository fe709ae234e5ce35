#pragma once
// Family "moe_comm": how a training step's MoE token dispatch and combine cross the expert-parallel (EP) group.
// A strategy only chooses the scheme and checks it fits the layout on the topology; the MoE blocks
// (model/moe_dispatch_blocks) turn the plan into collectives and the step builder resolves their groups.
// Selected by {"name": "alltoallv"} / {"name": "hierarchical_ep"} in a scenario's strategies; default alltoallv.
// docs/training.md ("MoE communication").
#include <memory>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "config/scenario_config.hpp"
#include "model/moe_comm_plan.hpp"

namespace moesim::strategy {

class MoeCommStrategy {
 public:
  virtual ~MoeCommStrategy() = default;
  virtual std::string name() const = 0;
  // Contract: the plan for the scenario's parallel layout on its topology (full data-parallel size). Throws
  // std::invalid_argument with a message naming the problem when the layout does not suit the strategy.
  virtual model::MoeCommPlan plan(const config::ScenarioConfig& scenario) const = 0;
};

std::vector<std::string> moe_comm_names();
std::unique_ptr<MoeCommStrategy> make_moe_comm(const std::string& name);
// The scenario's "moe_comm" strategy, or alltoallv when it lists none.
std::unique_ptr<MoeCommStrategy> make_moe_comm(const config::ScenarioConfig& scenario);
// make_moe_comm(scenario)->plan(scenario).
model::MoeCommPlan moe_comm_plan(const config::ScenarioConfig& scenario);

// Reports a "moe_comm" strategy that does not fit the scenario (at the strategy's name); called by
// validate_strategies, so `moesim check` reports it.
void check_moe_comm_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

}  // namespace moesim::strategy

#include "strategy/moe_comm.hpp"

#include <stdexcept>

#include "strategy/moe_comm_alltoallv.hpp"
#include "strategy/moe_comm_hierarchical_ep.hpp"

namespace moesim::strategy {

std::vector<std::string> moe_comm_names() {
  return {kAllToAllVName, kHierarchicalEpName};
}

std::unique_ptr<MoeCommStrategy> make_moe_comm(const std::string& name) {
  if (name == kAllToAllVName) return std::make_unique<AllToAllVComm>();
  if (name == kHierarchicalEpName) return std::make_unique<HierarchicalEpComm>();
  std::string known;
  for (const auto& n : moe_comm_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown moe_comm strategy \"" + name + "\" (known: " + known + ")");
}

std::unique_ptr<MoeCommStrategy> make_moe_comm(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    for (const auto& name : moe_comm_names()) {
      if (spec.name == name) return make_moe_comm(name);
    }
  }
  return make_moe_comm(kAllToAllVName);
}

model::MoeCommPlan moe_comm_plan(const config::ScenarioConfig& scenario) {
  return make_moe_comm(scenario)->plan(scenario);
}

void check_moe_comm_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  for (const auto& spec : scenario.strategies) {
    for (const auto& name : moe_comm_names()) {
      if (spec.name != name) continue;
      if (scenario.type != config::ScenarioType::Training) {
        issues.error(config::pointer_child(spec.pointer, "name"),
                     name + " lays out the MoE dispatch of training steps; this scenario is " +
                         config::to_string(scenario.type) + " (inference dispatch: ep_alltoall or h2p)");
        continue;
      }
      if (scenario.model && !scenario.model->moe) {
        issues.error(config::pointer_child(spec.pointer, "name"),
                     name + " lays out the MoE dispatch, but model \"" + scenario.model->name +
                         "\" has no MoE layers (drop it: it would change nothing)");
        continue;
      }
      try {
        make_moe_comm(name)->plan(scenario);
      } catch (const std::invalid_argument& e) {
        issues.error(config::pointer_child(spec.pointer, "name"), e.what());
      }
    }
  }
}

}  // namespace moesim::strategy

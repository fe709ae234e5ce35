#include "strategy/context_parallel_ulysses.hpp"

namespace moesim::strategy {

void check_ulysses_layout(const config::ScenarioConfig& scenario, const config::StrategySpec&,
                          config::IssueCollector& issues) {
  const auto& p = scenario.parallel;
  const int heads = scenario.model->attention.num_heads;
  if (heads % (p.tp * p.cp) != 0) {
    issues.error("/parallel/cp", "ulysses gives each of the tp x cp = " + std::to_string(p.tp * p.cp) +
                                     " ranks a share of the " + std::to_string(heads) +
                                     " attention heads: they must divide evenly");
  }
}

}  // namespace moesim::strategy

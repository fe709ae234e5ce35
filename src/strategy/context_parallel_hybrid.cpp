#include "strategy/context_parallel_hybrid.hpp"

#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

namespace {

int degree_of(const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("ulysses_degree") || !params.at("ulysses_degree").is_number_integer())
    return 1;
  return params.at("ulysses_degree").get<int>();
}

}  // namespace

void check_hybrid_cp_params(config::ObjectReader& params) {
  const auto degree = params.integer("ulysses_degree");
  if (degree < 2)
    params.issues().error(config::pointer_child(params.pointer(), "ulysses_degree"),
                          "expected an integer >= 2 (1 is plain ring_attention), got " + std::to_string(degree));
  params.finish();
}

void check_hybrid_cp_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                            config::IssueCollector& issues) {
  const auto& p = scenario.parallel;
  const int u = degree_of(spec.params);
  if (u < 2) return;  // reported by the params check
  if (u >= p.cp || p.cp % u != 0) {
    issues.error(param_pointer(spec, "ulysses_degree"), "expected a divisor of cp = " + std::to_string(p.cp) +
                                                            " below it (cp itself is plain ulysses), got " +
                                                            std::to_string(u));
    return;
  }
  const int heads = scenario.model->attention.num_heads;
  if (heads % (p.tp * u) != 0) {
    issues.error(param_pointer(spec, "ulysses_degree"),
                 "hybrid_cp's Ulysses part gives each of tp x ulysses_degree = " + std::to_string(p.tp * u) +
                     " ranks a share of the " + std::to_string(heads) + " attention heads: they must divide evenly");
  }
  const int chunks = 2 * p.cp;
  if (scenario.training->seq_len % chunks != 0) {
    issues.error("/training/seq_len", "hybrid_cp's ring splits each sequence into 2 x cp = " + std::to_string(chunks) +
                                          " equal chunks; " + std::to_string(scenario.training->seq_len) +
                                          " tokens do not divide");
  }
}

int cp_ulysses_degree(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kHybridCpName) return std::max(1, degree_of(spec.params));
  }
  return 1;
}

}  // namespace moesim::strategy

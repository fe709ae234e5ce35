#include "strategy/context_parallel_ring.hpp"

namespace moesim::strategy {

void check_ring_attention_layout(const config::ScenarioConfig& scenario, const config::StrategySpec&,
                                 config::IssueCollector& issues) {
  const int cp = scenario.parallel.cp;
  const int seq = scenario.training->seq_len;
  if (seq % (2 * cp) != 0) {
    issues.error("/training/seq_len", "ring_attention splits each sequence into 2 x cp = " + std::to_string(2 * cp) +
                                          " equal chunks (two mirrored halves per CP rank); " + std::to_string(seq) +
                                          " tokens do not divide");
  }
}

}  // namespace moesim::strategy

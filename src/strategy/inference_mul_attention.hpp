#pragma once
// MulAttention ([P] §5.3 / facts 3.1 P11: decode attention is 30-50% of inference time, KV movement ~70% of it;
// the fused kernel keeps MTE2 >89% busy and speeds attention up 4.5x end to end): an alternative cost model of the
// attention core, the topology's "fused_attention" efficiencies instead of "attention".
// Scenario: {"name": "mul_attention"}.
#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kMulAttentionName = "mul_attention";
inline constexpr const char* kMulAttentionDescription =
    "MulAttention fused decode attention: attention core costed with the topology's fused_attention efficiencies "
    "(KV-bandwidth bound, MTE2 >89%; [P] arXiv 2505.21411 section 5.3)";

void check_mul_attention_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                config::IssueCollector& issues);
void apply_mul_attention(const config::ScenarioConfig& scenario, const nlohmann::json& params,
                         model::InferenceStepPlan& plan);

// Shared with swift_gmm: the topology must define the fused operator class's efficiencies.
void check_fused_class(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                       config::OpClass op_class, config::IssueCollector& issues);

}  // namespace moesim::strategy

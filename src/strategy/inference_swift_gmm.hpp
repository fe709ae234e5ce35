#pragma once
// SwiftGMM ([P] §5.3 / facts 3.1 P12: grouped matmul is >50% of end-to-end latency at high concurrency; the fused
// kernel reaches up to 95% MTE2 utilisation; press: -48.7% decode latency on the 300I Duo): an alternative cost
// model of the routed-expert grouped GEMMs, the topology's "fused_grouped_matmul" efficiencies instead of
// "grouped_matmul". Scenario: {"name": "swift_gmm"}.
#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kSwiftGmmName = "swift_gmm";
inline constexpr const char* kSwiftGmmDescription =
    "SwiftGMM fused grouped matmul: routed-expert GEMMs costed with the topology's fused_grouped_matmul efficiencies "
    "(weight-bandwidth bound, MTE2 up to 95%; [P] arXiv 2505.21411 section 5.3)";

void check_swift_gmm_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                            config::IssueCollector& issues);
void apply_swift_gmm(const config::ScenarioConfig& scenario, const nlohmann::json& params,
                     model::InferenceStepPlan& plan);

}  // namespace moesim::strategy

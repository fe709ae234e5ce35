#pragma once
// MTP speculative decoding (facts 1.1/1.2: Pro MoE uses an MTP module for its speculative-decoding results, [P]
// abstract: 1148 -> 1528 tok/s/card on the 800I A2; facts C9: framework overhead 10 -> 1 ms with FusionSpec).
// Each decode step verifies 1 + k tokens per sequence with the main model (k drafted in the previous step), then
// drafts k new tokens with the MTP module (k sequential passes). Draft position i is accepted with probability
// acceptance[i] given that positions before it were; the step emits accepted + 1 tokens, in expectation
// 1 + sum_i prod_{j<=i} acceptance[j]. tpot_ms = step time / that expectation.
// Scenario: {"name": "mtp", "params": {"draft_tokens": 1, "acceptance": [0.7], "framework_overhead_ms": 1.0}}.
#include <vector>

#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kMtpName = "mtp";
inline constexpr const char* kMtpDescription =
    "MTP speculative decoding: k draft tokens from the MTP module, verify step over k+1 tokens per sequence, "
    "acceptance per position, speculative-framework overhead per step ([P] section 5.3 and abstract; facts C9)";

// "draft_tokens" (integer >= 1, default 1), "acceptance" (required: array of draft_tokens probabilities in
// [0, 1]), "framework_overhead_ms" (>= 0, default 1.0: FusionSpec, facts C9).
void check_mtp_params(config::ObjectReader& params);
void check_mtp_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                      config::IssueCollector& issues);
void apply_mtp(const config::ScenarioConfig& scenario, const nlohmann::json& params, model::InferenceStepPlan& plan);

// Expected tokens emitted per sequence by one step: 1 + sum_i prod_{j<=i} acceptance[j] (1 without MTP, and for
// prefill steps).
double expected_mtp_tokens(const std::vector<double>& acceptance);
// The same for the (already checked) params of an mtp strategy.
double mtp_tokens_per_step(const nlohmann::json& params);

}  // namespace moesim::strategy

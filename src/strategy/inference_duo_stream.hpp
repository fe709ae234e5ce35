#pragma once
// DuoStream ([P] §4.2.1, facts section 5): separate compute and communication streams; the AllGather before and
// the ReduceScatter after the expert block are fused with the expert GEMMs (AGMM, GMMRS) by token chunks, so chunk
// k's collective overlaps chunk k-1's expert compute. Targets the expert collectives' ~8% share (facts P10).
// Needs the ReduceScatter/AllGather layout (h2p or flashcomm).
// Scenario: {"name": "duo_stream", "params": {"chunks": 2, "reread_weights": false}}.
#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

inline constexpr const char* kDuoStreamName = "duo_stream";
inline constexpr const char* kDuoStreamDescription =
    "DuoStream: compute and communication streams; expert-block AllGather+GEMM and GEMM+ReduceScatter fused by "
    "token chunks so each chunk's collective overlaps the previous chunk's GEMMs ([P] arXiv 2505.21411 section 4.2.1)";

// "chunks" (integer >= 2, default 2), "reread_weights" (boolean, default false: the fused kernels read each expert
// weight once per step; true: every chunk re-reads the weights its tokens touch).
void check_duo_stream_params(config::ObjectReader& params);
void check_duo_stream_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                             config::IssueCollector& issues);
void apply_duo_stream(const config::ScenarioConfig& scenario, const nlohmann::json& params,
                      model::InferenceStepPlan& plan);

}  // namespace moesim::strategy

#pragma once
// Family "matmul_kernel", strategy "matmul_retiling": the matmul operator work of Pangu Pro MoE's training system
// ([P] arXiv 2505.21411 section 4.1, facts T14: L1 -> L0 block retiling raises cube utilization by ">10%", HBM-aware
// tiling speeds the operators up by "5-10%"), modelled as higher efficiencies of the two cube GEMM classes, matmul
// and grouped_matmul (not SwiftGMM's fused_grouped_matmul, which has its own measured factors): compute and
// compute_int8 x (1 + cube_utilization_gain), memory x (1 + hbm_tiling_gain). Defaults are the published lower
// bounds (0.10, 0.05). Applied to the scenario's copy of the device when the scenario is loaded, so every timing
// (engine, load-time estimates) sees it. Attention and vector classes are untouched. docs/training.md ("Matmul
// retiling").
#include "config/config_error.hpp"
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

inline constexpr const char* kMatmulRetilingName = "matmul_retiling";
inline constexpr const char* kMatmulRetilingDescription =
    "retiled matmul kernels: cube GEMM efficiencies x (1 + 10 %), their HBM efficiency x (1 + 5 %) by default (L1->L0 "
    "block retiling '>10 % cube utilization', HBM-aware tiling '+5-10 %'; [P] arXiv 2505.21411 section 4.1)";

struct MatmulRetilingGains {
  double cube_utilization_gain = 0.10;  // [P] section 4.1: ">10%" cube utilization (lower bound)
  double hbm_tiling_gain = 0.05;        // [P] section 4.1: "+5-10%" operator speed (lower bound)
};

// params: {"cube_utilization_gain": x, "hbm_tiling_gain": y}, each >= 0 (fractions; 0.10 = +10 %).
void check_matmul_retiling_params(config::ObjectReader& params);
// Every raised efficiency must stay <= 1 (a fraction of the peak or of the HBM bandwidth).
void check_matmul_retiling_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                  config::IssueCollector& issues);
MatmulRetilingGains matmul_retiling_gains(const nlohmann::json& params);

// When the scenario lists matmul_retiling: raises scenario.topology.device's GEMM efficiencies as above and appends
// the strategy and its source to each changed value's source text.
void apply_matmul_retiling(config::ScenarioConfig& scenario);
// True for a value apply_matmul_retiling raised (its source text says so).
bool raised_by_matmul_retiling(const config::SourcedValue& value);

}  // namespace moesim::strategy

#pragma once
// Family "memory", strategy "selective_recompute_swap": per activation module of a transformer layer (norm,
// attention core, permute / unpermute, expert FC1, activation function, router probabilities, shared experts,
// dense FFN) keep the activation, recompute it at the start of the layer's backward, or swap it to host memory
// over the host link; or recompute whole layers ("full", Megatron-LM). "auto" picks per module by activation
// memory saved per second of estimated added time until the step fits in device memory with a headroom.
// Sources: Pangu Ultra MoE "Selective R/S" (~70% activation memory saved; pangu-ascend-facts.md section 5, T10),
// MindSpeed moe-zero-memory (recompute of permute/communication and swap hidden under compute), Korthikanti et al.
// arXiv 2205.05198 (selective = attention core; full layer recompute). docs/training.md.
//
// Scenario: {"name": "selective_recompute_swap", "params": {"mode": "manual", "modules": {"norm": "swap",
// "attention_core": "recompute", "full": "keep", ...}}} or {"mode": "auto", "headroom_gib": 2, "modules": {...}}
// (in auto mode the listed modules are pinned and the others chosen).
#include <nlohmann/json.hpp>
#include <vector>

#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/activation_plan.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

inline constexpr const char* kSelectiveRecomputeSwapName = "selective_recompute_swap";
inline constexpr const char* kSelectiveRecomputeSwapDescription =
    "selective recompute / swap: keep, recompute or swap-to-host each activation module (norm, attention core, "
    "permute/unpermute, expert FC1, activation, router probs) or full layers; auto picks by memory saved per "
    "second until the step fits (Pangu Ultra MoE Selective R/S, MindSpeed moe-zero-memory, arXiv 2205.05198)";

// Reads (validates) the params and calls finish(): "mode" ("manual" default, or "auto"), "modules" (object:
// each selectable module -> "keep" / "recompute" / "swap", "full" -> "keep" / "recompute"; required in manual
// mode), "headroom_gib" (number >= 0, auto mode only, default 0).
void check_selective_recompute_swap_params(config::ObjectReader& params);

// Reports a memory strategy on a scenario that is not training.
void check_memory_strategy(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

struct MemoryPlan {
  model::ActivationPlan plan;
  // null without a memory strategy; else {"mode", "modules", "full_recompute", "estimated_added_time_s", and for
  // auto: "headroom_gib", "target_gib", "peak_memory_before_gib", "peak_memory_after_gib", "fits", "choices"}
  nlohmann::json report;
};

// The plan of a training scenario: keep everything without a memory strategy, the given modes in manual mode, the
// greedy choice in auto mode (needs the stage orders for the in-flight counts). Deterministic. Throws
// std::invalid_argument when a swap mode is asked for on a device without a host link bandwidth.
MemoryPlan resolve_memory_plan(const config::ScenarioConfig& scenario,
                               const std::vector<std::vector<PipelineTask>>& stage_orders);

// "module:mode, ..." of the modes that are not keep ("keep all" when none), for the summary table.
std::string plan_text(const model::ActivationPlan& plan);

}  // namespace moesim::strategy

#include "strategy/catalog.hpp"

#include <set>

#include "strategy/context_parallel.hpp"
#include "strategy/context_parallel_hybrid.hpp"
#include "strategy/context_parallel_kv_allgather.hpp"
#include "strategy/context_parallel_ring.hpp"
#include "strategy/context_parallel_ulysses.hpp"
#include "strategy/data_balance_sequences.hpp"
#include "strategy/expert_balancing_balanced_moe.hpp"
#include "strategy/expert_placement_balanced.hpp"
#include "strategy/inference_duo_stream.hpp"
#include "strategy/inference_ep_alltoall.hpp"
#include "strategy/inference_flashcomm.hpp"
#include "strategy/inference_h2p.hpp"
#include "strategy/inference_mtp.hpp"
#include "strategy/inference_mul_attention.hpp"
#include "strategy/inference_plan.hpp"
#include "strategy/inference_swift_gmm.hpp"
#include "strategy/inference_topocomm.hpp"
#include "strategy/kernel_matmul_retiling.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"
#include "strategy/moe_comm.hpp"
#include "strategy/moe_comm_alltoallv.hpp"
#include "strategy/moe_comm_hierarchical_ep.hpp"
#include "strategy/overlap.hpp"
#include "strategy/overlap_adaptive_pipe.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/pipeline_stage_balance.hpp"
#include "strategy/pipeline_zero_bubble.hpp"
#include "strategy/tp_comm_overlap_coc.hpp"

namespace moesim::strategy {

const std::vector<StrategyInfo>& strategy_catalog() {
  // Families add their built-ins here, one line each, as they land (training: issue #4, inference: #5).
  auto no_params = [](config::ObjectReader& params) { params.finish(); };
  static const std::vector<StrategyInfo> catalog = {
      {"pipeline_schedule", "1f1b",
       "1F1B (PipeDream-Flush): warm-up forwards then one forward / one backward (Megatron-LM, arXiv 2104.04473)",
       no_params},
      {"pipeline_schedule", "interleaved_1f1b",
       "interleaved 1F1B over vpp model chunks per stage (Megatron-LM virtual pipeline, arXiv 2104.04473)", no_params},
      {"pipeline_schedule", "zero_bubble",
       "ZB-H1: backward split into B and W, W deferred into the cool-down at 1F1B's peak memory (Qi et al., arXiv "
       "2401.10241); vpp > 1: same rule on the interleaved order",
       check_zero_bubble_params},
      {"pipeline_schedule", "dualpipev",
       "DualPipeV: two chunks per stage in a V, overlapped forward-backward chunks in the steady phase, B/W split in "
       "the ramps (DeepSeek-AI DualPipe dualpipev.py, arXiv 2412.19437; MindSpeed --schedules-method dualpipev)",
       no_params},
      {"pipeline_schedule", "zbv",
       "ZB-V: two chunks per stage in a V, every backward split into B and W, 1F1B's peak memory, near-zero bubble "
       "when F, B and W take alike (Qi et al., arXiv 2401.10241 section 6; PyTorch ScheduleZBVZeroBubble)",
       no_params},
      {"data_balance", kSequenceBalanceName, kSequenceBalanceDescription, check_sequence_balance_params},
      {"pipeline_balance", kStageBalanceName, kStageBalanceDescription, check_stage_balance_params},
      {"overlap", kAdaptivePipeName, kAdaptivePipeDescription, check_adaptive_pipe_params},
      {"tp_comm_overlap", kCocName, kCocDescription, check_coc_params},
      {"context_parallel", kKvAllGatherName, kKvAllGatherDescription, no_params},
      {"context_parallel", kRingAttentionName, kRingAttentionDescription, no_params},
      {"context_parallel", kUlyssesName, kUlyssesDescription, no_params},
      {"context_parallel", kHybridCpName, kHybridCpDescription, check_hybrid_cp_params},
      {"expert_placement", kBalancedPlacementName, kBalancedPlacementDescription, check_balanced_placement_params},
      {"expert_balancing", kBalancedMoeName, kBalancedMoeDescription, check_balanced_moe_params},
      {"inference_parallel", kH2PName, kH2PDescription, check_h2p_params},
      {"moe_comm", kAllToAllVName, kAllToAllVDescription, no_params},
      {"moe_comm", kHierarchicalEpName, kHierarchicalEpDescription, no_params},
      {"inference_comm", kFlashCommName, kFlashCommDescription, check_flashcomm_params},
      {"collective_algorithm", kTopoCommName, kTopoCommDescription, check_topocomm_params},
      {"inference_overlap", kDuoStreamName, kDuoStreamDescription, check_duo_stream_params},
      {"inference_moe_dispatch", kEpAllToAllName, kEpAllToAllDescription, no_params},
      {"attention_kernel", kMulAttentionName, kMulAttentionDescription, no_params},
      {"grouped_matmul_kernel", kSwiftGmmName, kSwiftGmmDescription, no_params},
      {"matmul_kernel", kMatmulRetilingName, kMatmulRetilingDescription, check_matmul_retiling_params},
      {"speculative_decoding", kMtpName, kMtpDescription, check_mtp_params},
      {"memory", kSelectiveRecomputeSwapName, kSelectiveRecomputeSwapDescription,
       check_selective_recompute_swap_params},
  };
  return catalog;
}

void validate_strategies(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  std::set<std::string> seen;
  std::set<std::string> families;
  for (const auto& spec : scenario.strategies) {
    const StrategyInfo* info = nullptr;
    for (const auto& candidate : strategy_catalog()) {
      if (candidate.name == spec.name) info = &candidate;
    }
    if (info == nullptr) {
      std::string known;
      for (const auto& candidate : strategy_catalog()) known += (known.empty() ? "" : ", ") + candidate.name;
      issues.error(config::pointer_child(spec.pointer, "name"),
                   "unknown strategy \"" + spec.name + "\" (known: " + (known.empty() ? "none yet" : known) + ")");
      continue;
    }
    if (!seen.insert(spec.name).second) {
      issues.error(config::pointer_child(spec.pointer, "name"), "strategy \"" + spec.name + "\" listed twice");
    } else if (!families.insert(info->family).second) {
      issues.error(config::pointer_child(spec.pointer, "name"),
                   "more than one \"" + info->family + "\" strategy (\"" + spec.name + "\"); pick one");
    }
    config::ObjectReader params(spec.params, config::pointer_child(spec.pointer, "params"), issues);
    info->check_params(params);
  }
  check_inference_layout(scenario, issues);
  check_moe_comm_layout(scenario, issues);
  check_memory_strategy(scenario, issues);
  check_overlap_layout(scenario, issues);
  check_context_parallel_layout(scenario, issues);
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kBalancedPlacementName) check_balanced_placement_layout(scenario, spec, issues);
    if (spec.name == kBalancedMoeName) check_balanced_moe_layout(scenario, spec, issues);
    if (spec.name == kStageBalanceName) check_stage_balance_layout(scenario, spec, issues);
    if (spec.name == kSequenceBalanceName) check_sequence_balance_layout(scenario, spec, issues);
    if (spec.name == kMatmulRetilingName) check_matmul_retiling_layout(scenario, spec, issues);
  }
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kCocName) check_coc_layout(scenario, spec, issues);
  }
  check_pipeline_layout(scenario, issues);
}

}  // namespace moesim::strategy

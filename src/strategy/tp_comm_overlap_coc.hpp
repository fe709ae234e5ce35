#pragma once
// Family "tp_comm_overlap", strategy "coc": communication over computation for tensor parallelism (MindSpeed CoC,
// docs/features/communication-over-computation.md, and Ascend MC2, docs/features/mc2.md). Each TP AllGather that
// feeds a column-parallel matmul and each ReduceScatter / AllReduce that a row-parallel matmul feeds is cut with
// the matmul into token chunks that pipeline on a communication and the compute stream (model/tp_comm_chunks), in
// the forward and in the input-gradient backward. MindSpeed reports +7.85 % end to end on Llama 2 70B with the
// fused kernels. docs/training.md ("TP communication over computation").
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/tp_comm_chunks.hpp"

namespace moesim::strategy {

inline constexpr const char* kCocName = "coc";
inline constexpr const char* kCocDescription =
    "CoC / MC2: TP AllGather + matmul and matmul + ReduceScatter cut into token chunks so each chunk's collective "
    "overlaps the neighbouring chunk's matmul (MindSpeed communication-over-computation and MC2)";

// Params: {"chunks": 2 | 4 | 8 (default 4), "fused_kernel": bool (default true: one kernel launch per fused op;
// false: MindSpeed's script version, one launch per chunk), "shared_experts": bool (default true; false: as MC2
// under Megatron-core MoE models, which leaves the MoE MLP's collectives whole)}.
void check_coc_params(config::ObjectReader& params);
// Needs a training scenario with tp > 1 whose per-rank micro-batch tokens split into the chunks.
void check_coc_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                      config::IssueCollector& issues);
// The scenario's chunking: its "coc" strategy's, or none (chunks 1).
model::TpChunking tp_chunking(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy

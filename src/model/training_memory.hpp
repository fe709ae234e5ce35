#pragma once
// Per-NPU memory of a training step: bf16 weights, fp32 gradient buffer, fp32 master weights + Adam moments
// sharded over the data-parallel group (ZeRO-1 / Megatron distributed optimizer), activations of every in-flight
// micro-batch per module (the schedule's peak in-flight count per chunk), communication buffers and a workspace
// estimate; peak and OOM verdict against the device memory. Conventions and sources: docs/training.md ("Memory").
#include <map>
#include <string>
#include <vector>

#include "config/scenario_config.hpp"
#include "model/activation_plan.hpp"
#include "model/expert_load.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"

namespace moesim::model {

// Parameter elements one rank holds for a virtual stage: dense (attention, norms, router, shared experts, dense
// FFN, embedding / LM head: sharded over TP) and routed experts (sharded over expert-parallel x expert-TP).
struct StageParams {
  double dense = 0.0;
  double expert = 0.0;
};
StageParams virtual_stage_params(const config::ModelConfig& model, const config::ParallelLayout& parallel,
                                 const VirtualStage& stage);

// Activation bytes one micro-batch leaves on one rank for the backward of one slot, per module: "layer_input",
// "residual", the selectable modules of model/activation_plan ("norm", "attention_core", "router_probs", "permute",
// "unpermute", "expert_fc1", "activation", "shared_experts", "ffn"), "ep_allgather" (hierarchical EP
// only: the gathered tokens, shape.moe_comm) and, for an MTP module, "mtp".
std::map<std::string, double> slot_activation_bytes(const config::ModelConfig& model, const TrainingShape& shape,
                                                    const LayerSlot& slot);
// The same summed over a virtual stage's slots, plus "head" on the last virtual stage.
std::map<std::string, double> virtual_stage_activation_bytes(const config::ModelConfig& model,
                                                             const TrainingShape& shape, const VirtualStage& stage);

struct MemoryBreakdown {
  double weights_bytes = 0.0;
  double gradients_bytes = 0.0;
  double optimizer_bytes = 0.0;
  double activations_bytes = 0.0;           // at the schedule's peak in-flight count, kept + recompute/swap working set
  double activations_keep_all_bytes = 0.0;  // what the same in-flight count would hold without a plan
  double activations_recomputed_bytes = 0.0;  // dropped by recompute modes (at the peak)
  double activations_swapped_bytes = 0.0;     // held in host memory by swap modes (at the peak)
  double activation_working_set_bytes = 0.0;  // recomputed / swapped-in activations of the layers in backward
  double comm_buffers_bytes = 0.0;
  double workspace_bytes = 0.0;
  std::map<std::string, double> activations_by_module;  // at the peak
  double total() const;
};

struct StageMemory {
  int stage = 0;
  MemoryBreakdown breakdown;
  int in_flight_micro_batches = 0;  // (micro-batch, chunk) activations held at the peak
  double capacity_bytes = 0.0;
  bool oom = false;
  int expert_ep_index = -1;  // with a skewed expert load: the EP index of the rank reported (the most loaded)
};

// Memory of a rank of pipeline stage `stage`; `in_flight_per_chunk[c]`: micro-batches of chunk c held at the
// schedule's peak (strategy::peak_in_flight); `plan`: what is kept, recomputed or swapped (default: keep all);
// `moe_comm`: the step's MoE dispatch scheme (strategy "moe_comm"); `load`: the step's expert load
// (model/expert_load; default uniform): the stage's rank with the largest routed-expert rows is reported, its
// expert-side activations (the experts' input rows "permute", "expert_fc1", "activation") scaled by its load.
StageMemory stage_memory(const config::ScenarioConfig& scenario, const std::vector<VirtualStage>& stages, int stage,
                         const std::vector<int>& in_flight_per_chunk, const ActivationPlan& plan = {},
                         const MoeCommPlan& moe_comm = {}, const ExpertLoad& load = {});

}  // namespace moesim::model

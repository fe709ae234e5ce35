#pragma once
// The forward ops a training step re-runs to rebuild the activations an ActivationPlan drops (recompute modes and
// full layer recompute), and the bytes it copies to and from host memory (swap modes), for one pipeline slot of
// one micro-batch on one rank. The recompute ops are clones of the slot's forward ops (model/training_blocks),
// found by their names, with compute ops moved to phase "recompute" and collectives kept in their own phase
// (recomputing the permutation re-runs the dispatch all-to-all). docs/training.md ("Selective recompute and swap").
#include <vector>

#include "config/model_config.hpp"
#include "model/activation_plan.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"

namespace moesim::model {

// Ops that rebuild what `plan` drops for `slot`, in forward order (run at the start of the slot's backward).
// `forward` = slot_forward(model, shape, slot). Per module:
//   norm: both norms.  attention_core: [TP AllGather of the normed input] + input projections + [CP K/V gather] +
//   attention core.  router_probs: the router.  permute: permute + dispatch (+ expert-TP AllGather).
//   expert_fc1: the FC1 share (gate/up) of the grouped matmul.  activation: the activation function (a vector op
//   over the FC1 output; the forward folds it into the grouped matmul).  unpermute: the FC2 share of the grouped
//   matmul + (expert-TP ReduceScatter) + combine.  shared_experts / ffn: [TP AllGather] + the FC1 share of the
//   matmul + the activation function.  ffn_activation (with ffn kept): the activation function alone.
//   full: the whole layer (for an MTP module: its transformer layer).
std::vector<BlockOp> recompute_ops(const config::ModelConfig& model, const TrainingShape& shape, const LayerSlot& slot,
                                   const std::vector<BlockOp>& forward, const ActivationPlan& plan);

// Bytes of `slot`'s activations (one micro-batch, one rank) the plan copies to the host and back, in virtual
// stage `virtual_stage` (chunk x pp + stage).
double swap_bytes(const config::ModelConfig& model, const TrainingShape& shape, const LayerSlot& slot,
                  const ActivationPlan& plan, int virtual_stage);

// Share of a gated / plain FFN matmul's FLOPs in its first projection (gate + up for SwiGLU: 2/3; GELU: 1/2).
double fc1_share(const config::ModelConfig& model);

}  // namespace moesim::model

#pragma once
// Graph building blocks of a training step: the op list of one pipeline slot (transformer layer, MTP module),
// the embedding and the LM head + loss, for ONE micro-batch on ONE rank, in forward, backward-input (dx) and
// backward-weight (dw) form, with FLOPs/bytes from model_stats and the TP / CP / EP collectives they need.
// Collectives name a group kind; the step builder (strategy/training_step_builder) resolves it to ranks.
// Conventions (sharding, which collective where, dx/dw costs): docs/training.md ("Per-layer blocks").
#include <string>
#include <vector>

#include "config/model_config.hpp"
#include "config/scenario_config.hpp"
#include "model/moe_comm_plan.hpp"
#include "model/op_graph.hpp"
#include "model/training_layout.hpp"

namespace moesim::model {

enum class Pass { Forward, BackwardInput, BackwardWeight };
// EpOuter / EpInner: the node-split EP groups of hierarchical dispatch (TrainingLayout::ep_outer_group / inner).
// Swap markers in a task's op list (memory strategy): copy a part's swapped activations to the host after its
// forward (Out), start copying them back (Prefetch), make the next compute wait for them (Wait).
enum class HostCopy { None, Out, Prefetch, Wait };

struct BlockOp {
  std::string name;   // module, e.g. "attn_core", "dispatch"
  std::string phase;  // breakdown key: attention, ffn, moe, embedding, head, mtp, tp_comm, cp_comm, ep_comm
  bool collective = false;
  ComputeCost cost;  // compute ops
  // collectives: nccl-tests sizes (op_graph.hpp); AllToAllV: elements each rank sends, spread evenly over the group
  CollectiveKind kind = CollectiveKind::AllReduce;
  GroupKind group = GroupKind::Tp;
  double elements = 0.0;
  Dtype dtype = Dtype::BF16;
  // forward ops only: how the backward treats them
  double dx_factor = 1.0;  // dx cost = forward cost x this (0: no input gradient, e.g. the embedding lookup)
  bool weights = false;    // has a weight gradient (dw op with the forward cost)
  bool mirrored = true;    // collectives: mirrored in the backward (AllGather <-> ReduceScatter, A2A <-> A2A)
  // swap markers only (not produced by the block builders): cost.bytes = bytes copied; part = task part (slot)
  HostCopy host_copy = HostCopy::None;
  int part = -1;
  // matmuls: the part of cost.bytes that reads the weights (a token chunk of the matmul still reads all of them)
  double weight_bytes = 0.0;
  // Expert load (model/expert_load): the model layer an op of a MoE layer belongs to (-1: none; set by the step
  // builder), and for the MoE AllToAllVs the direction of their rows: +1 to the experts' ranks (dispatch, and the
  // combine's backward), -1 back to the tokens' owners (combine, and the dispatch's backward).
  int layer = -1;
  int expert_flow = 0;
  // Broadcast of a hot expert (strategy balanced_moe; k-th hottest = k + 1) from its owner over the EP group, after
  // the router; in the backward the same pattern carries the partial gradients back to the owner (timed as a
  // broadcast: the engine has no Reduce). `elements` = one expert's parameters. 0: not one.
  int hot_broadcast = 0;
  // AllToAllV collectives: `elements` from each member to the next one of its group only (a ring shift, the K/V
  // block of Ring Attention), not spread over the group.
  bool ring = false;
  // A chunked communication group (TP CoC chunks, model/tp_comm_chunks; Ring Attention steps, model/cp_ring;
  // column-parallel backward, model/column_parallel_backward): its collectives (`chunk_async`) run on their layer
  // stream without blocking the compute chain; its compute ops wait, besides the chain, only for the op
  // `chunk_input_back` places earlier in the same list (0: none). The first op after the group that is not part of
  // it waits for all the group's collectives.
  bool chunked = false;
  bool chunk_async = false;
  long chunk_input_back = 0;
  // Ring Attention block (model/cp_ring): k for the block on the K/V shard that arrived by shift k (that of the
  // ring member k places back), -1 for every other op.
  int cp_block = -1;
};

// How attention crosses the context-parallel (CP) group (strategy family "context_parallel"; docs/training.md,
// "Context parallelism"): KvAllGather = AllGather of K and V before the attention core (Llama 3, MindSpeed
// kvallgather_cp_algo; the default); Ring = K/V blocks passed round the CP ring, one attention block per step
// (Ring Attention, MindSpeed megatron_cp_algo; model/cp_ring); Ulysses = AllToAll of Q, K, V from sequence to head
// shards and back for the output (DeepSpeed-Ulysses, MindSpeed ulysses_cp_algo).
// Hybrid = Ulysses over cp_ulysses ranks, Ring Attention over the cp / cp_ulysses groups of them (USP, arXiv
// 2405.07719; MindSpeed hybrid_cp_algo).
enum class CpAlgorithm { KvAllGather, Ring, Ulysses, Hybrid };

// Per-micro-batch, per-rank shape of the work.
struct TrainingShape {
  double tokens = 0.0;   // tokens of one micro-batch on one CP shard: micro_batch_size x seq_len / cp
  double seq_len = 0.0;  // full sequence (mean causal context seq_len / 2, as in model_stats)
  int tp = 1;
  int cp = 1;
  int ep_size = 1;  // expert-parallel size (ep, or ep x tp with tp_extend_ep)
  int etp = 1;      // expert tensor parallel
  bool sequence_parallel = false;
  Dtype dtype = Dtype::BF16;
  MoeCommPlan moe_comm;  // set by the moe_comm strategy (default: AllToAllV over the EP group)
  CpAlgorithm cp_algorithm = CpAlgorithm::KvAllGather;  // set by the context_parallel strategy
  int cp_ulysses = 1;                                    // Hybrid: the Ulysses degree (ring degree cp / cp_ulysses)
  int cp_ring_degree() const {                           // ranks round a Ring Attention ring (1: no ring)
    return cp_algorithm == CpAlgorithm::Ring ? cp : cp_algorithm == CpAlgorithm::Hybrid ? cp / cp_ulysses : 1;
  }
  int hot_experts = 0;  // set by the balanced_moe strategy: hot experts broadcast per MoE layer and micro-batch
  double tokens_sp() const { return sequence_parallel ? tokens / tp : tokens; }  // tokens held between TP blocks
  double tokens_moe() const { return tokens / tp; }  // tokens each rank routes (each TP rank takes its slice)
};
TrainingShape training_shape(const config::ScenarioConfig& scenario);

// Cost of an element-wise (vector) op over `elements` elements read and written once (norm, copy, activation
// function); `bytes_per_element` 0 = the training dtype.
ComputeCost vector_cost(const TrainingShape& shape, double elements, double bytes_per_element = 0.0);

// Forward op list of one slot (a padding slot has none); backward lists are derived from it by
// backward_ops(). Embedding / head blocks are separate (the builder adds them on the first / last virtual stage).
std::vector<BlockOp> layer_forward(const config::ModelConfig& model, const TrainingShape& shape, bool moe_layer);
std::vector<BlockOp> mtp_forward(const config::ModelConfig& model, const TrainingShape& shape);
std::vector<BlockOp> embedding_forward(const config::ModelConfig& model, const TrainingShape& shape);
std::vector<BlockOp> head_forward(const config::ModelConfig& model, const TrainingShape& shape);
std::vector<BlockOp> slot_forward(const config::ModelConfig& model, const TrainingShape& shape, const LayerSlot& slot);

// dx: the forward list reversed, compute ops scaled by dx_factor, collectives mirrored. dw: one op per forward op
// with weights, in backward order, with the forward cost (dW = X^T dY costs what Y = X W costs).
std::vector<BlockOp> backward_ops(const std::vector<BlockOp>& forward, Pass pass);

// Ulysses: elements per token that each rank sends in the Q/K/V AllToAll (all its TP heads of Q, K and V; GQA K/V
// heads repeated up to cp when fewer).
double ulysses_qkv_width(const config::ModelConfig& model, int tp, int cp);

// Module name without the slot prefix ("L3.shared_fc1" -> "shared_fc1").
std::string module_of(const BlockOp& op);
// A dense (not grouped) matmul compute op that no chunked group has taken yet.
bool unchunked_dense_matmul(const BlockOp& op);

// Sum of compute FLOPs of a list, optionally only the "model FLOPs" classes (matmul, grouped matmul, attention).
double block_flops(const std::vector<BlockOp>& ops, bool model_flops_only);

}  // namespace moesim::model

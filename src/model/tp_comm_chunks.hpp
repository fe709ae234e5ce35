#pragma once
// Token-chunked TP communication over computation (strategy family "tp_comm_overlap", MindSpeed CoC / MC2): in an
// op list (forward or input-gradient backward), each tensor-parallel AllGather that feeds a matmul, and each
// ReduceScatter / AllReduce that a matmul feeds, is cut with that matmul into `chunks` token chunks, so chunk k's
// collective runs while chunk k-1 (AllGather side) or k+1 (ReduceScatter side) computes. docs/training.md
// ("TP communication over computation").
#include <vector>

#include "model/training_blocks.hpp"

namespace moesim::model {

struct TpChunking {
  int chunks = 1;             // 1: no chunking
  bool fused_kernel = true;   // MC2 / CoC fused kernel: one launch per fused op (else one per chunk, CoC script)
  bool shared_experts = true;  // also the MoE shared experts' AllGather / ReduceScatter (MC2 skips MoE MLPs)
};

// The list with every such group chunked; other ops unchanged, in order. A group is a TP (Tp group) AllGather
// directly followed by a dense matmul (class Matmul), optionally followed by a TP ReduceScatter, or a dense matmul
// directly followed by a TP ReduceScatter or AllReduce. Chunk k of the matmul has 1/chunks of its FLOPs and
// activation bytes and reads all its weights; chunk k of a collective moves 1/chunks of its elements. Emitted as:
// AllGather chunks, then per chunk its matmul (waiting for its AllGather chunk) and its ReduceScatter chunk.
std::vector<BlockOp> chunk_tp_collectives(const std::vector<BlockOp>& ops, const TpChunking& plan);

}  // namespace moesim::model

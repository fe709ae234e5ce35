#pragma once
// Megatron-LM's backward of a column-parallel linear (LinearWithGradAccumulationAndAsyncCommunication, as MindSpeed
// runs it): with sequence parallelism the layer saved only its sequence shard of the input, so the backward
// all-gathers it again while it computes dX = dY W, then reduce-scatters dX while it computes dW = dY^T X; without
// sequence parallelism it all-reduces dX while it computes dW. Applied to a slot's whole backward (dx then dw): each
// column-parallel matmul's dw op moves right after its dX, the collectives run off the compute chain beside them
// (model/tp_comm_chunks' chunked-group semantics), and the next op waits for them. A split backward (zero_bubble,
// dualpipev) keeps dX's collective blocking in B and gathers the input again, blocking, in front of the dW in W.
// docs/training.md ("Per-layer blocks").
#include <vector>

#include "model/training_blocks.hpp"

namespace moesim::model {

struct SlotBackward {
  std::vector<BlockOp> whole;   // dx with the column-parallel dw ops in place, then the other dw ops
  std::vector<BlockOp> weight;  // dw ops, each column-parallel one after its input's AllGather (SP)
};

// `dx`, `dw`: backward_ops(forward, BackwardInput / BackwardWeight) of one slot (unnamed: module names).
SlotBackward column_parallel_backward(const std::vector<BlockOp>& dx, const std::vector<BlockOp>& dw,
                                      bool sequence_parallel);

}  // namespace moesim::model

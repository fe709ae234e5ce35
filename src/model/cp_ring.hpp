#pragma once
// Ring Attention steps (strategy context_parallel "ring_attention"; MindSpeed megatron_cp_algo, Liu et al. arXiv
// 2310.01889): in an op list, each CP ring marker (`ring` AllToAllV "cp_ring") with the attention core next to it
// becomes cp attention blocks and cp - 1 ring shifts of one K/V shard, so that block k (the shard that arrived by
// shift k) runs while shift k + 1 is under way. docs/training.md ("Context parallelism").
#include <vector>

#include "model/training_blocks.hpp"

namespace moesim::model {

// Forward: marker, attn_core -> shift 1..cp-1 (issued at once, run one after the other round the ring), block 0
// (local K/V), block k waiting for shift k. Each block has 1/cp of the core's FLOPs and bytes (causal load balance:
// every rank holds two mirrored half-chunks of the sequence, so every step does the same work).
// Input gradient (the reversed list: attn_core_b, marker_b): the same shifts carry K/V and the partial dK/dV (twice
// the elements), block k waits for shift k, and a last shift returns the finished dK/dV to its owner.
// Lists without a marker, or cp = 1, are returned unchanged. `cp` is the ring's size (TrainingShape::cp_ring_degree:
// the CP size, or under hybrid CP the number of Ulysses groups).
std::vector<BlockOp> expand_cp_ring(const std::vector<BlockOp>& ops, int cp);

}  // namespace moesim::model

#pragma once
// Documents packed into a training step's sequences with document-masked (varlen) attention: a sequence's attention
// work is the sum over its documents of their causal pairs, not the causal pairs of the whole sequence. Lengths are
// log-normal (training.documents: mean in tokens, log-space sigma), drawn with the scenario seed and packed back to
// back: a document that crosses a sequence boundary continues in the next sequence (Megatron-style packing with
// --reset-attention-mask). docs/training.md ("Documents and sequence balance").
#include <cstdint>
#include <vector>

#include "config/scenario_config.hpp"

namespace moesim::model {

// Contract: one entry per sequence, in (0, 1]: sum over the sequence's pieces of p (p + 1) / (s (s + 1)), s =
// seq_len (1 = one document filling it). Deterministic for (lengths, seq_len, sequences, seed).
std::vector<double> sequence_attention_work(const config::DocumentLengths& lengths, int seq_len, int sequences,
                                            std::uint64_t seed);

// Attention work per (DP replica, micro-batch): the mean work of its micro_batch_size sequences, relative to
// full-length documents. Empty when every sequence is one document.
struct MicroBatchWork {
  std::vector<std::vector<double>> factor;  // [dp replica][micro-batch]
  bool empty() const { return factor.empty(); }
  double at(int replica, int micro_batch) const {
    return factor.empty() ? 1.0 : factor[static_cast<std::size_t>(replica)][static_cast<std::size_t>(micro_batch)];
  }
  // Mean over every (replica, micro-batch) (1 when empty); largest replica's summed work over the mean replica's
  // and largest micro-batch's over the mean (1 = balanced).
  double mean() const;
  double replica_max_over_mean() const;
  double micro_batch_max_over_mean() const;
};

// Megatron's data order: replica d's micro-batch k holds sequences (d x micro_batches + k) x mbs onwards.
MicroBatchWork contiguous_work(const std::vector<double>& work, int dp, int micro_batches, int micro_batch_size);

}  // namespace moesim::model

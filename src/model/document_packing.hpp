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

// Contract: per sequence, the lengths in tokens of its document pieces in order (they sum to seq_len). Deterministic
// for (lengths, seq_len, sequences, seed).
std::vector<std::vector<double>> pack_documents(const config::DocumentLengths& lengths, int seq_len, int sequences,
                                                std::uint64_t seed);

// A sequence's attention work: sum over its pieces of p (p + 1) / (s (s + 1)), s = seq_len (1 = one document
// filling it).
double sequence_work(const std::vector<double>& pieces, int seq_len);

// Contract: one entry per sequence, in (0, 1]: sequence_work of pack_documents.
std::vector<double> sequence_attention_work(const config::DocumentLengths& lengths, int seq_len, int sequences,
                                            std::uint64_t seed);

// A sequence's attention work split over `shards` context-parallel shards with causal load balance (the sequence cut
// into 2 x shards equal chunks, shard p holding chunks p and 2 shards - 1 - p, as Megatron's CP): entry
// p x shards + j = the masked causal pairs between shard p's queries and shard j's keys, over the whole sequence's
// causal pairs / shards^2 (so their mean is sequence_work, and every entry is about 1 for one document filling the
// sequence). Needs seq_len divisible by 2 x shards; shards 1 gives {sequence_work}.
// `per_document`: every piece is cut on its own into 2 x shards equal chunks, shard p holding chunks p and
// 2 shards - 1 - p of each (Transformer Engine's THD packed format under CP); each shard's queries then carry the
// same work. Padding of a piece to a multiple of 2 x shards tokens is not counted.
std::vector<double> cp_shard_pair_work(const std::vector<double>& pieces, int seq_len, int shards,
                                       bool per_document = false);

// Attention work per (DP replica, micro-batch): the mean work of its micro_batch_size sequences, relative to
// full-length documents. Empty when every sequence is one document.
// With context parallelism over `cp_shards` > 1 query shards (KV AllGather and Ring Attention: the CP size; hybrid
// CP: its ring degree; Ulysses keeps whole sequences: 1) also per shard pair (cp_shard_pair_work, averaged alike).
struct MicroBatchWork {
  std::vector<std::vector<double>> factor;  // [dp replica][micro-batch]
  int cp_shards = 1;
  std::vector<std::vector<std::vector<double>>> shard_pairs;  // [dp replica][micro-batch][p x cp_shards + j]
  // The step's tokens over its document pieces (a document crossing a sequence boundary counts once per
  // sequence): what the drawn lengths amount to, beside the requested mean (0 when not set).
  double piece_tokens_mean = 0.0;
  bool empty() const { return factor.empty(); }
  double at(int replica, int micro_batch) const {
    return factor.empty() ? 1.0 : factor[static_cast<std::size_t>(replica)][static_cast<std::size_t>(micro_batch)];
  }
  // Work of shard p's queries against shard j's keys (a Ring Attention block), and against every shard's keys (the
  // attention core under KV AllGather): at() when there are no shards.
  double shard_pair(int replica, int micro_batch, int p, int j) const;
  double shard_queries(int replica, int micro_batch, int p) const;
  // Sum over micro-batches of the largest shard's query work over the sum of the shards' mean (1 = balanced; 1
  // without shards): the attention time CP ranks that meet at every layer pay against an even split.
  double cp_shard_max_over_mean() const;
  // Mean over every (replica, micro-batch) (1 when empty); largest replica's summed work over the mean replica's
  // and largest micro-batch's over the mean (1 = balanced).
  double mean() const;
  double replica_max_over_mean() const;
  double micro_batch_max_over_mean() const;
};

// Which sequences each (DP replica, micro-batch) holds: [replica][micro-batch] -> sequence indices.
using SequenceDeal = std::vector<std::vector<std::vector<std::size_t>>>;

// Megatron's data order: replica d's micro-batch k holds sequences (d x micro_batches + k) x mbs onwards.
SequenceDeal contiguous_deal(int dp, int micro_batches, int micro_batch_size);

// The deal's work: per (replica, micro-batch) the mean of its sequences' `work`, and with `shard_pairs` (one
// cp_shard_pair_work per sequence, `cp_shards` x `cp_shards` each) the mean of theirs.
MicroBatchWork micro_batch_work(const SequenceDeal& deal, const std::vector<double>& work,
                                const std::vector<std::vector<double>>& shard_pairs = {}, int cp_shards = 1);

MicroBatchWork contiguous_work(const std::vector<double>& work, int dp, int micro_batches, int micro_batch_size);

}  // namespace moesim::model

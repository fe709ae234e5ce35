// Documents packed into sequences (model/document_packing): a sequence's attention work relative to one full-length
// document, checked at the two extremes by hand, its range and determinism, and Megatron's contiguous deal of
// sequences over DP replicas and micro-batches.
#include <catch2/catch.hpp>
#include <numeric>

#include "model/document_packing.hpp"

using namespace moesim;

TEST_CASE("attention work of packed documents: one document per sequence is 1, one-token documents 2 / (s + 1)") {
  const auto whole = model::sequence_attention_work({1e12, 0.0}, 4096, 8, 1);
  for (double w : whole) CHECK(w == Approx(1.0));
  // mean 1 token, sigma 0: every document is one token, each piece 1 x 2 causal pairs over s (s + 1)
  const auto tokens = model::sequence_attention_work({1.0, 0.0}, 4096, 3, 1);
  for (double w : tokens) CHECK(w == Approx(2.0 * 4096 / (4096.0 * 4097.0)));
  // 1024-token documents, sigma 0: four per 4096-token sequence, 4 x 1024 x 1025 / (4096 x 4097)
  const auto quarters = model::sequence_attention_work({1024.0, 0.0}, 4096, 2, 1);
  for (double w : quarters) CHECK(w == Approx(4.0 * 1024 * 1025 / (4096.0 * 4097.0)));
}

TEST_CASE("attention work of log-normal documents: above 0, at most 1, spread, deterministic per seed") {
  const config::DocumentLengths lengths{2048.0, 1.0};
  const auto a = model::sequence_attention_work(lengths, 8192, 256, 7);
  REQUIRE(a.size() == 256);
  double lo = 1.0, hi = 0.0;
  for (double w : a) {
    CHECK(w > 0.0);
    CHECK(w <= 1.0 + 1e-12);
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  CHECK(hi > 2.0 * lo);  // sigma 1: sequences differ
  CHECK(model::sequence_attention_work(lengths, 8192, 256, 7) == a);
  CHECK(model::sequence_attention_work(lengths, 8192, 256, 8) != a);
}

TEST_CASE("contiguous work: replica d's micro-batch k holds sequences (d m + k) mbs onwards") {
  const std::vector<double> work = {1, 2, 3, 4, 5, 6, 7, 8};  // dp 2, 2 micro-batches of 2 sequences
  const auto w = model::contiguous_work(work, 2, 2, 2);
  REQUIRE(w.factor.size() == 2);
  CHECK(w.at(0, 0) == Approx(1.5));
  CHECK(w.at(0, 1) == Approx(3.5));
  CHECK(w.at(1, 0) == Approx(5.5));
  CHECK(w.at(1, 1) == Approx(7.5));
  CHECK(w.replica_max_over_mean() == Approx(26.0 / 18.0));
  CHECK_THROWS_AS(model::contiguous_work(work, 3, 2, 2), std::invalid_argument);
  CHECK(model::MicroBatchWork{}.at(3, 5) == 1.0);
}

// seq 8 over 2 shards: chunks of 2 tokens, shard 0 = tokens 0-1 and 6-7, shard 1 = tokens 2-5; entries over
// 8 x 9 / 2 / 4 = 9 pairs (counted by hand).
TEST_CASE("cp shard pair work: causal pairs between load-balanced shards, counted by hand") {
  const auto whole = model::cp_shard_pair_work({8.0}, 8, 2);
  REQUIRE(whole.size() == 4);
  CHECK(whole[0] == Approx(10.0 / 9));  // (0,0): 3 + 4 + 3
  CHECK(whole[1] == Approx(8.0 / 9));   // (0,1): tokens 6-7 see tokens 2-5
  CHECK(whole[2] == Approx(8.0 / 9));   // (1,0): tokens 2-5 see tokens 0-1
  CHECK(whole[3] == Approx(10.0 / 9));
  const auto halves = model::cp_shard_pair_work({4.0, 4.0}, 8, 2);
  CHECK(halves == std::vector<double>{6.0 / 9, 4.0 / 9, 4.0 / 9, 6.0 / 9});
  // documents of 6 and 2 tokens: shard 0 holds the short one and the long one's first two tokens
  const auto skewed = model::cp_shard_pair_work({6.0, 2.0}, 8, 2);
  CHECK(skewed[0] == Approx(6.0 / 9));
  CHECK(skewed[1] == 0.0);
  CHECK(skewed[2] == Approx(8.0 / 9));
  CHECK(skewed[3] == Approx(10.0 / 9));
  CHECK(model::cp_shard_pair_work({6.0, 2.0}, 8, 1) == std::vector<double>{model::sequence_work({6.0, 2.0}, 8)});
  CHECK_THROWS_AS(model::cp_shard_pair_work({6.0}, 6, 2), std::invalid_argument);
}

TEST_CASE("cp shard pair work: entries average to the sequence's work, one full document balances every shard") {
  const auto sequences = model::pack_documents({1500.0, 1.0}, 8192, 64, 3);
  for (const auto& pieces : sequences) {
    CHECK(std::accumulate(pieces.begin(), pieces.end(), 0.0) == 8192.0);
    for (int shards : {2, 4, 8}) {
      const auto pairs = model::cp_shard_pair_work(pieces, 8192, shards);
      const double mean = std::accumulate(pairs.begin(), pairs.end(), 0.0) / static_cast<double>(pairs.size());
      CHECK(mean == Approx(model::sequence_work(pieces, 8192)).epsilon(1e-12));
    }
  }
  for (int shards : {2, 4, 8}) {
    const auto pairs = model::cp_shard_pair_work({8192.0}, 8192, shards);
    for (int p = 0; p < shards; ++p) {
      double queries = 0.0;
      for (int j = 0; j < shards; ++j) queries += pairs[static_cast<std::size_t>(p * shards + j)];
      CHECK(queries / shards == Approx(1.0).epsilon(1e-12));
    }
  }
}

TEST_CASE("cp shard pair work per document: every document cut on its own, every shard's queries the same work") {
  // documents of 4 and 4 tokens over 2 shards, each cut into 4 chunks of 1 token: shard 0 holds tokens 0 and 3 of
  // each. (0,0): token 0 sees 0, token 3 sees 0 and 3 -> 3 per document; (0,1): token 3 sees 1, 2 -> 2; (1,0): token 1
  // sees 0, token 2 sees 0 -> 2; (1,1): token 1 sees 1, token 2 sees 1, 2 -> 3; over s (s + 1) / 2 / 4 = 9
  const auto halves = model::cp_shard_pair_work({4.0, 4.0}, 8, 2, true);
  CHECK(halves == std::vector<double>{6.0 / 9, 4.0 / 9, 4.0 / 9, 6.0 / 9});
  // 6 and 2 tokens: the per-sequence cut gives shard 0 the short document (queries 6/9 against 18/9 on shard 1);
  // cut per document the two shards' queries carry the same work
  const auto skewed = model::cp_shard_pair_work({6.0, 2.0}, 8, 2, true);
  CHECK(skewed[0] + skewed[1] == Approx(skewed[2] + skewed[3]));
  const auto sequences = model::pack_documents({1500.0, 1.0}, 8192, 32, 3);
  for (const auto& pieces : sequences) {
    for (int shards : {2, 4, 8}) {
      const auto pairs = model::cp_shard_pair_work(pieces, 8192, shards, true);
      const double mean = std::accumulate(pairs.begin(), pairs.end(), 0.0) / static_cast<double>(pairs.size());
      CHECK(mean == Approx(model::sequence_work(pieces, 8192)).epsilon(1e-12));  // the same total work
      for (int p = 0; p < shards; ++p) {
        double queries = 0.0;
        for (int j = 0; j < shards; ++j) queries += pairs[static_cast<std::size_t>(p * shards + j)];
        CHECK(queries / shards == Approx(mean).epsilon(1e-9));  // balanced shards
      }
    }
  }
  // one document filling the sequence: both cuts are the same
  CHECK(model::cp_shard_pair_work({8192.0}, 8192, 4, true) == model::cp_shard_pair_work({8192.0}, 8192, 4));
}

TEST_CASE("micro-batch work under CP: shard pairs averaged over a micro-batch, the slowest shard against the mean") {
  // two micro-batches of one 8-token sequence over 2 shards: balanced halves, then the skewed 6 + 2 split
  const std::vector<std::vector<double>> pairs = {model::cp_shard_pair_work({4.0, 4.0}, 8, 2),
                                                  model::cp_shard_pair_work({6.0, 2.0}, 8, 2)};
  const std::vector<double> work = {model::sequence_work({4.0, 4.0}, 8), model::sequence_work({6.0, 2.0}, 8)};
  const auto w = model::micro_batch_work(model::contiguous_deal(1, 2, 1), work, pairs, 2);
  CHECK(w.cp_shards == 2);
  CHECK(w.shard_queries(0, 0, 0) == Approx(5.0 / 9));
  CHECK(w.shard_queries(0, 1, 0) == Approx(1.0 / 3));
  CHECK(w.shard_queries(0, 1, 1) == Approx(1.0));
  CHECK(w.shard_pair(0, 1, 1, 0) == Approx(8.0 / 9));
  // (5/9 + 1) / (5/9 + 2/3)
  CHECK(w.cp_shard_max_over_mean() == Approx((5.0 / 9 + 1.0) / (5.0 / 9 + 2.0 / 3)));
  CHECK(model::contiguous_work(work, 1, 2, 1).cp_shard_max_over_mean() == 1.0);
  CHECK_THROWS_AS(model::micro_batch_work(model::contiguous_deal(1, 2, 1), work, {pairs[0]}, 2), std::invalid_argument);
}

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

// Interpolation in a step profile: exact at grid points, bilinear between, linear extrapolation at the ends,
// the prefill split into attention work and the rest, mixed steps, KV transfers.
#include <catch2/catch.hpp>

#include "serving/profiled_step_cost.hpp"

using namespace moesim::serving;

namespace {

// A sample whose busy time is all matmul except `attention_s`.
SampleCost sample(double time_s, double attention_s = 0.0) {
  SampleCost s;
  s.time_s = time_s;
  s.class_s = {time_s - attention_s, 0, attention_s, 0, 0, 0};
  return s;
}

// decode(B, L) = 0.01 + 1e-4 B + 1e-7 B L (bilinear); prefill: rest(T) = 0.02 + 1e-5 T, attention(W) = 1e-9 W.
StepProfile synthetic() {
  StepProfile p;
  p.decode_batches = {1, 8, 64};
  p.decode_kv_lens = {100, 1000};
  for (double b : p.decode_batches) {
    for (double l : p.decode_kv_lens) p.decode.push_back(sample(0.01 + 1e-4 * b + 1e-7 * b * l, 1e-7 * b * l));
  }
  for (double l : {16.0, 256.0, 4096.0}) {
    p.prefill_tokens.push_back(l);
    p.prefill_attention.push_back(l * l / 2);
    p.prefill.push_back(sample(0.02 + 1e-5 * l + 1e-9 * l * l / 2, 1e-9 * l * l / 2));
  }
  p.transfer_tokens = {1, 1001};
  p.transfer_s = {0.001, 0.011};
  return p;
}

}  // namespace

TEST_CASE("decode cost: exact on the grid, bilinear between, extrapolated past the last batch") {
  const ProfiledStepCost cost(synthetic());
  auto expected = [](double b, double l) { return 0.01 + 1e-4 * b + 1e-7 * b * l; };
  CHECK(cost.decode(8, 1000).time_s == Approx(expected(8, 1000)));
  CHECK(cost.decode(20, 550).time_s == Approx(expected(20, 550)));  // bilinear is exact for this surface
  CHECK(cost.decode(128, 550).time_s == Approx(expected(128, 550)));
  StepShape shape;
  shape.decode_seqs = 20;
  shape.decode_kv_tokens = 20 * 550.0;
  const auto step = cost.step(shape);
  CHECK(step.time_s == Approx(expected(20, 550)));
  REQUIRE(step.class_s.size() == 6);
  CHECK(step.class_s[2] == Approx(1e-7 * 20 * 550));  // attention
}

TEST_CASE("prefill cost: rest by tokens plus attention by attention work") {
  const ProfiledStepCost cost(synthetic());
  auto rest = [](double t) { return 0.02 + 1e-5 * t; };
  // One prompt of 1000 tokens: W = 1000^2 / 2.
  StepShape one;
  one.prefill_seqs = 1;
  one.prefill_tokens = 1000;
  one.prefill_attention = 1000.0 * 1000 / 2;
  CHECK(cost.step(one).time_s == Approx(rest(1000) + 1e-9 * 500000));
  // Two prompts of 500: same tokens, half the attention work.
  StepShape two = one;
  two.prefill_seqs = 2;
  two.prefill_attention = 2 * 500.0 * 500 / 2;
  CHECK(cost.step(two).time_s == Approx(rest(1000) + 1e-9 * 250000));
  // Below the first sample the rest is held (weights are read whatever the token count).
  CHECK(cost.prefill_rest(4).time_s == Approx(rest(16)));
}

TEST_CASE("a mixed step costs a prefill of all its tokens plus the decode sequences' attention") {
  const ProfiledStepCost cost(synthetic());
  StepShape mixed;
  mixed.decode_seqs = 8;
  mixed.decode_kv_tokens = 8 * 1000.0;
  mixed.prefill_seqs = 1;
  mixed.prefill_tokens = 248;
  mixed.prefill_attention = 248.0 * (512 + 124);    // a chunk of 248 after 512 cached tokens
  const double rest = 0.02 + 1e-5 * (248 + 8);      // prefill rest over the step's 256 tokens
  const double decode_attention = 1e-7 * 8 * 1000;  // the decode samples' attention part at (8, 1000)
  const auto step = cost.step(mixed);
  CHECK(step.time_s == Approx(rest + 1e-9 * 248 * 636 + decode_attention));
  CHECK(step.class_s[2] == Approx(1e-9 * 248 * 636 + decode_attention));  // attention class
}

TEST_CASE("KV transfer time is piecewise linear in tokens") {
  const ProfiledStepCost cost(synthetic());
  CHECK(cost.kv_transfer_s(501) == Approx(0.006));
  CHECK(cost.kv_transfer_s(2001) == Approx(0.021));
}

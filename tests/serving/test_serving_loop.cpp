// The serving loop on hand-computable cases: constant step costs give exact TTFT/TPOT; KV admission and
// preemption; chunked prefill; P/D disaggregation; speculation hook; never-fitting requests.
#include <catch2/catch.hpp>
#include <stdexcept>

#include "serving/serving_loop.hpp"

using namespace moesim::serving;
using moesim::config::ArrivalKind;
using moesim::config::LengthKind;
using moesim::config::ServingWorkload;
using moesim::config::TraceRequest;

namespace {

// A trace workload from (arrival, prompt, output) triples.
ServingWorkload trace(std::vector<TraceRequest> requests) {
  ServingWorkload w;
  w.arrival.kind = ArrivalKind::Trace;
  w.arrival.trace = std::move(requests);
  return w;
}

ServingOptions options(long long kv_blocks = 1000, int block_tokens = 16) {
  ServingOptions o;
  o.kv_blocks = kv_blocks;
  o.block_tokens = block_tokens;
  o.max_batch = 64;
  o.max_tokens_per_step = 4096;
  return o;
}

ConstantStepCost cost() {
  ConstantStepCost c;
  c.decode_s = 0.01;
  c.prefill_s = 0.05;
  return c;
}

ServingResult run(const ServingWorkload& w, const StepCostModel& c, const ServingOptions& o) {
  WorkloadSource source(w, 1);
  return run_serving(source, c, o);
}

}  // namespace

TEST_CASE("two requests at once: one prefill step, then decode steps (exact TTFT, TPOT, e2e)") {
  const auto result = run(trace({{0.0, 100, 3}, {0.0, 100, 3}}), cost(), options());
  REQUIRE(result.requests.size() == 2);
  for (const auto& r : result.requests) {
    CHECK(r.ttft_s() == Approx(0.05));
    CHECK(r.tpot_s() == Approx(0.01));
    CHECK(r.e2e_s() == Approx(0.07));
    CHECK(r.preemptions == 0);
  }
  CHECK(result.steps.size() == 3);
  CHECK(result.makespan_s == Approx(0.07));
}

TEST_CASE("a request arriving during decoding is prefilled first (no chunking), then both decode together") {
  const auto result = run(trace({{0.0, 100, 5}, {0.055, 100, 5}}), cost(), options());
  const auto& r0 = result.requests[0];
  const auto& r1 = result.requests[1];
  // P(r0) 0-0.05, D 0.05-0.06, P(r1) 0.06-0.11, D x2 (both) -> r0 done at 0.14 with 5 tokens, r1 at 0.15.
  CHECK(r0.first_token_s == Approx(0.05));
  CHECK(r0.finish_s == Approx(0.14));
  CHECK(r0.tpot_s() == Approx(0.0225));
  CHECK(r1.first_token_s == Approx(0.11));
  CHECK(r1.ttft_s() == Approx(0.055));
  CHECK(r1.finish_s == Approx(0.15));
  CHECK(r1.tpot_s() == Approx(0.01));
}

TEST_CASE("max_batch holds later requests in the queue") {
  auto o = options();
  o.max_batch = 1;
  const auto result = run(trace({{0.0, 100, 3}, {0.0, 100, 3}}), cost(), o);
  CHECK(result.requests[0].finish_s == Approx(0.07));
  CHECK(result.requests[1].first_token_s == Approx(0.12));
  CHECK(result.requests[1].finish_s == Approx(0.14));
}

TEST_CASE("a full KV cache preempts the latest request, which is recomputed later") {
  // 3 blocks of 10 tokens; each request needs 10 + 15 = 25 tokens = 3 blocks at the end.
  const auto result = run(trace({{0.0, 10, 15}, {0.0, 10, 15}}), cost(), options(3, 10));
  const auto& r0 = result.requests[0];
  const auto& r1 = result.requests[1];
  CHECK(r0.preemptions == 0);
  CHECK(r1.preemptions == 1);
  CHECK(result.preemptions == 1);
  CHECK(r0.first_token_s == Approx(0.05));
  CHECK(r0.finish_s == Approx(0.05 + 14 * 0.01));
  CHECK(r1.first_token_s == Approx(0.05));  // the first token stays; the recompute prefill yields token 2
  CHECK(r1.finish_s == Approx(0.19 + 0.05 + 13 * 0.01));
  CHECK(result.kv_utilisation_peak == Approx(1.0));
  for (const auto& step : result.steps) CHECK(step.used_blocks <= 3);
}

TEST_CASE("admission waits for free blocks instead of over-committing the KV cache") {
  // 2 blocks of 100: the first request (prompt 150) takes both; the second waits until it finishes.
  const auto result = run(trace({{0.0, 150, 2}, {0.0, 20, 2}}), cost(), options(2, 100));
  CHECK(result.requests[0].finish_s == Approx(0.06));
  CHECK(result.requests[1].first_token_s == Approx(0.11));
  CHECK(result.preemptions == 0);
}

TEST_CASE("chunked prefill splits a long prompt over steps and mixes it with decoding") {
  auto o = options();
  o.chunked_prefill = true;
  o.max_tokens_per_step = 64;
  const auto alone = run(trace({{0.0, 100, 2}}), cost(), o);
  CHECK(alone.requests[0].first_token_s == Approx(0.10));  // chunks of 64 and 36
  CHECK(alone.requests[0].finish_s == Approx(0.11));
  REQUIRE(alone.steps.size() == 3);
  CHECK(alone.steps[0].prefill_tokens == 64);
  CHECK(alone.steps[1].prefill_tokens == 36);

  // r0 decodes while r1's prompt is prefilled in chunks of 63 (one budget token goes to r0's decode).
  const auto mixed = run(trace({{0.0, 10, 4}, {0.05, 100, 2}}), cost(), o);
  const auto& steps = mixed.steps;
  REQUIRE(steps.size() >= 3);
  CHECK(steps[1].decode_seqs == 1);
  CHECK(steps[1].prefill_tokens == 63);
  CHECK(steps[1].end_s - steps[1].start_s == Approx(0.06));  // decode_s + prefill_s
  CHECK(mixed.requests[1].first_token_s == Approx(0.05 + 0.06 + 0.06));
}

TEST_CASE("prefill/decode disaggregation: prefill on one instance, KV transfer, decode on another") {
  auto o = options();
  o.instances = 3;
  o.prefill_instances = 1;
  auto c = cost();
  c.transfer_s = 0.02;
  const auto one = run(trace({{0.0, 100, 3}}), c, o);
  const auto& r = one.requests[0];
  CHECK(r.instance == 0);
  CHECK(r.decode_instance == 1);
  CHECK(r.ttft_s() == Approx(0.05));
  CHECK(r.kv_transfer_s == Approx(0.02));
  CHECK(r.finish_s == Approx(0.09));

  // Two prefilled together: their transfers leave the prefill instance one after the other, to two decoders.
  const auto two = run(trace({{0.0, 100, 3}, {0.0, 100, 3}}), c, o);
  CHECK(two.requests[0].decode_instance != two.requests[1].decode_instance);
  CHECK(two.requests[0].kv_transfer_s == Approx(0.02));
  CHECK(two.requests[1].kv_transfer_s == Approx(0.04));
  CHECK(two.requests[1].finish_s == Approx(0.11));
}

TEST_CASE("instances share the load: two instances serve two requests in parallel") {
  auto o = options();
  o.instances = 2;
  o.max_batch = 1;
  const auto result = run(trace({{0.0, 100, 3}, {0.0, 100, 3}}), cost(), o);
  CHECK(result.requests[0].instance != result.requests[1].instance);
  CHECK(result.requests[1].finish_s == Approx(0.07));
}

TEST_CASE("speculation hook: accepted drafts add tokens per decode step") {
  auto o = options();
  o.speculation.acceptance = {1.0};
  const auto sure = run(trace({{0.0, 10, 5}}), cost(), o);
  CHECK(sure.requests[0].finish_s == Approx(0.07));  // 1 + 2 + 2 tokens
  o.speculation.acceptance = {0.0, 1.0};
  const auto never = run(trace({{0.0, 10, 5}}), cost(), o);
  CHECK(never.requests[0].finish_s == Approx(0.09));  // draft 1 rejected: one token per step
  // Acceptance 0.5: 1.5 tokens per step on average.
  o.speculation.acceptance = {0.5};
  const auto half = run(trace({{0.0, 10, 3001}}), cost(), o);
  const double decode_steps = static_cast<double>(half.steps.size() - 1);
  CHECK(3000.0 / decode_steps == Approx(1.5).epsilon(0.03));
}

TEST_CASE("closed loop: a user's next request follows its previous response") {
  ServingWorkload w;
  w.arrival.kind = ArrivalKind::ClosedLoop;
  w.arrival.users = 2;
  w.prompt_tokens.kind = w.output_tokens.kind = LengthKind::Fixed;
  w.prompt_tokens.value = 10;
  w.output_tokens.value = 2;
  w.requests = 4;
  const auto result = run(w, cost(), options());
  REQUIRE(result.requests.size() == 4);
  CHECK(result.requests[2].arrival_s == Approx(0.06));
  CHECK(result.requests[3].finish_s == Approx(0.12));
}

TEST_CASE("a request that can never fit the KV cache is a clear error naming the limit") {
  auto o = options(2, 10);
  o.kv_limit_note = " (test note)";
  try {
    run(trace({{0.0, 15, 10}}), cost(), o);
    FAIL("expected an error");
  } catch (const std::invalid_argument& error) {
    const std::string what = error.what();
    CHECK(what.find("can never fit") != std::string::npos);
    CHECK(what.find("2 blocks of 10 tokens = 20 tokens") != std::string::npos);
    CHECK(what.find("test note") != std::string::npos);
  }
  auto small = options();
  small.max_tokens_per_step = 50;
  CHECK_THROWS_WITH(run(trace({{0.0, 60, 1}}), cost(), small), Catch::Contains("above max_tokens_per_step (50)"));
}

TEST_CASE("the same workload and seed give identical request records") {
  ServingWorkload w;
  w.arrival.kind = ArrivalKind::Poisson;
  w.arrival.rate_per_s = 30;
  w.prompt_tokens.kind = w.output_tokens.kind = LengthKind::Uniform;
  w.prompt_tokens.min = 10;
  w.prompt_tokens.max = 300;
  w.output_tokens.min = 1;
  w.output_tokens.max = 50;
  w.requests = 500;
  auto o = options(200, 16);
  o.instances = 2;
  o.speculation.acceptance = {0.7, 0.5};
  const auto a = run(w, cost(), o);
  const auto b = run(w, cost(), o);
  REQUIRE(a.requests.size() == 500);
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    CHECK(a.requests[i].finish_s == b.requests[i].finish_s);
    CHECK(a.requests[i].first_token_s == b.requests[i].first_token_s);
  }
  CHECK(a.preemptions == b.preemptions);
}

// Strategy "sequence_balance" (EDPB data part): the longest-processing-time deal by hand, that it uses every sequence
// once and evens the replicas, and that the step builder scales each micro-batch's attention core by its work (every
// DP replica simulated).
#include <catch2/catch.hpp>

#include "../model/training_fixtures.hpp"
#include "model/document_packing.hpp"
#include "strategy/data_balance_sequences.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"
#include "strategy_issues.hpp"

using namespace moesim;

TEST_CASE("sequence_balance deals heaviest first to the lightest replica, then within replicas") {
  // dp 2, one micro-batch of 2: 4 -> r0, 3 -> r1, 2 -> r1 (3 < 4), 1 -> r0: both replicas 5, factors 2.5
  const auto w = strategy::balanced_work({4, 3, 2, 1}, 2, 1, 2);
  CHECK(w.at(0, 0) == Approx(2.5));
  CHECK(w.at(1, 0) == Approx(2.5));
  // dp 1, 2 micro-batches of 2: {4, 1} and {3, 2}
  const auto m = strategy::balanced_work({4, 3, 2, 1}, 1, 2, 2);
  CHECK(m.at(0, 0) == Approx(2.5));
  CHECK(m.at(0, 1) == Approx(2.5));
}

TEST_CASE("sequence_balance keeps the step's work and evens the replicas of a log-normal batch") {
  const auto work = model::sequence_attention_work({2048.0, 1.0}, 8192, 4 * 8 * 2, 3);
  const auto plain = model::contiguous_work(work, 4, 8, 2);
  const auto balanced = strategy::balanced_work(work, 4, 8, 2);
  double a = 0.0, b = 0.0;
  for (int d = 0; d < 4; ++d) {
    for (int k = 0; k < 8; ++k) {
      a += plain.at(d, k);
      b += balanced.at(d, k);
    }
  }
  CHECK(b == Approx(a));
  CHECK(balanced.replica_max_over_mean() < plain.replica_max_over_mean());
  CHECK(balanced.replica_max_over_mean() < 1.01);
}

TEST_CASE("documents scale each micro-batch's attention core FLOPs, and all replicas are simulated") {
  auto s = test::training_scenario(test::tiny_dense_model(4), test::layout(1, 2, 2), 4096, 1, 8);
  const auto schedule = strategy::make_pipeline_schedule(s);
  auto attention_flops = [&](const config::ScenarioConfig& scenario, int* dp) {
    const auto step = strategy::build_training_step(scenario, *schedule, {});
    *dp = step.simulated_dp;
    double total = 0.0;
    for (const auto& op : step.graph.ops) {
      if (op.kind == model::OpKind::Compute && op.compute.op_class == config::OpClass::Attention)
        total += op.compute.flops;
    }
    return total;
  };
  int dp_plain = 0, dp_docs = 0;
  const double plain = attention_flops(s, &dp_plain);
  s.training->documents = config::DocumentLengths{1024.0, 1.0};
  const double docs = attention_flops(s, &dp_docs);
  CHECK(dp_docs == 2);
  const auto work = strategy::scenario_attention_work(s);
  double mean = 0.0;
  for (int d = 0; d < 2; ++d) {
    for (int k = 0; k < 4; ++k) mean += work.at(d, k) / 8.0;
  }
  CHECK(mean < 0.9);
  CHECK(docs == Approx(plain * mean * 2.0 / dp_plain));  // per simulated replica
  // the layout check: sequence_balance needs documents
  auto no_docs = test::training_scenario(test::tiny_dense_model(4), test::layout(1, 2, 2), 4096, 1, 8);
  no_docs.strategies.push_back({"sequence_balance", nlohmann::json::object(), "/strategies/0"});
  CHECK(test::has_issue(test::strategy_issues(no_docs), "/strategies/0/name",
                        "needs a training scenario with "
                        "training.documents"));
}

TEST_CASE("documents: each step draws its own, step 0 is the default draw") {
  auto s = test::training_scenario(test::tiny_dense_model(4), test::layout(1, 2, 2), 4096, 1, 8);
  s.training->documents = config::DocumentLengths{1024.0, 1.0};
  const auto first = strategy::scenario_attention_work(s);
  CHECK(strategy::scenario_attention_work(s, 0).factor == first.factor);
  CHECK(strategy::scenario_attention_work(s, 1).factor != first.factor);
  CHECK(strategy::scenario_attention_work(s, 1).factor == strategy::scenario_attention_work(s, 1).factor);
}

TEST_CASE("documents report the tokens per document piece the drawn lengths amount to") {
  auto s = test::training_scenario(test::tiny_dense_model(4), test::layout(1, 2, 2), 4096, 1, 8);
  s.training->documents = config::DocumentLengths{1e9, 0.0};  // every document fills its sequence: one piece each
  CHECK(strategy::scenario_attention_work(s).piece_tokens_mean == Approx(4096.0));
  s.training->documents = config::DocumentLengths{512.0, 0.0};  // exactly 8 documents per sequence
  CHECK(strategy::scenario_attention_work(s).piece_tokens_mean == Approx(512.0));
  s.training->documents = config::DocumentLengths{1000.0, 0.0};  // 1000-token documents cut by 4096-token sequences
  const double pieces_per_sequence = 4096.0 / strategy::scenario_attention_work(s).piece_tokens_mean;
  CHECK(pieces_per_sequence > 4.096);  // more pieces than whole documents: boundaries cut some
  CHECK(pieces_per_sequence <= 6.0);   // at most ceil(4096 / 1000) + 1 pieces in a sequence
  s.training->documents = config::DocumentLengths{4096.0, 40.0};  // a spread far above real data: 1-token documents
  CHECK(strategy::scenario_attention_work(s).piece_tokens_mean < 2.0);
}

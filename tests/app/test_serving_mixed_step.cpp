// Chunked-prefill (mixed) steps: the serving loop's step-cost formula against a direct engine simulation of the
// same mixed step (decode sequences plus prefill chunks in one forward pass, model::build_mixed_inference_step_graph).
// The mixed steps are chained after the profile's samples in ONE engine run (one simulation per process), each on an
// idle instance, exactly as the profile's own samples.
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>

#include "config/scenario_config.hpp"
#include "serving/step_profile.hpp"
#include "serving_test_config.hpp"
#include "strategy/inference_plan.hpp"

using namespace moesim;

namespace {

std::string repo(const std::string& relative) {
  return std::string(MOESIM_SOURCE_DIR) + "/" + relative;
}

struct Mix {
  int decode_seqs = 0;
  double kv_len = 0;
  double chunk_tokens = 0;
  double chunk_offset = 0;
};

serving::StepShape shape_of(const Mix& m) {
  serving::StepShape shape;
  shape.decode_seqs = m.decode_seqs;
  shape.decode_tokens = m.decode_seqs;
  shape.decode_kv_tokens = m.decode_seqs * m.kv_len;
  shape.prefill_seqs = m.chunk_tokens > 0 ? 1 : 0;
  shape.prefill_tokens = m.chunk_tokens;
  shape.prefill_attention = m.chunk_tokens * (m.chunk_offset + m.chunk_tokens / 2.0);
  return shape;
}

struct Compared {
  Mix mix;
  double formula_ms = 0;
  double engine_ms = 0;
  double error() const { return formula_ms / engine_ms - 1.0; }
};

// Profiles `scenario` with its default grids, appends one direct mixed step per mix, simulates once.
std::vector<Compared> compare(const config::ScenarioConfig& scenario, const std::vector<Mix>& mixes) {
  auto profile = serving::build_profile_graph(scenario, serving::choose_profile_grids(scenario));
  config::ScenarioConfig instance = scenario;  // one instance, as the profile's samples
  instance.serving.reset();
  instance.ranks = scenario.parallel.ranks();
  std::vector<std::size_t> extra;
  for (const Mix& m : mixes) {
    model::MixedStepBatch batch;
    batch.decode_seqs = m.decode_seqs;
    batch.decode_kv_len = m.kv_len;
    if (m.chunk_tokens > 0) batch.chunks.push_back({m.chunk_tokens, m.chunk_offset});
    extra.push_back(serving::append_extra_sample(profile, strategy::build_mixed_inference_step(instance, batch)));
  }
  const auto result = engine::simulate(profile.topology, profile.graph);
  const serving::ProfiledStepCost cost(serving::read_step_profile(profile, result));
  std::vector<Compared> out;
  for (std::size_t i = 0; i < mixes.size(); ++i) {
    out.push_back({mixes[i], cost.step(shape_of(mixes[i])).time_s * 1e3,
                   serving::extra_sample_s(profile, result, extra[i]) * 1e3});
  }
  return out;
}

std::string describe(const Compared& c) {
  std::ostringstream s;
  s << "B " << c.mix.decode_seqs << " KV " << c.mix.kv_len << " + chunk " << c.mix.chunk_tokens << " @ "
    << c.mix.chunk_offset << ": formula " << c.formula_ms << " ms, engine " << c.engine_ms << " ms ("
    << 100.0 * c.error() << " %)";
  return s.str();
}

}  // namespace

TEST_CASE("800I A2 chunked-prefill steps: the serving cost formula matches a direct mixed-step simulation") {
  const auto scenario = config::load_scenario(repo("scenarios/pro_moe_800i_a2_serving_trace.json"));
  // The pure cases pin the direct mixed builder to the static steps the profile is made of.
  const std::vector<Mix> mixes = {
      {64, 1024, 0, 0},       // decode only (B on the grid): the decode sample
      {0, 0, 1024, 0},        // a whole 1024-token prompt: the prefill sample
      {64, 1024, 512, 0},     // decode + a first chunk
      {4, 700, 1024, 1024},   // few decodes + a later chunk of a long prompt
      {128, 2048, 256, 512},  // many decodes + a small chunk
      {16, 1500, 2032, 0},    // a full token budget
  };
  for (const auto& c : compare(scenario, mixes)) {
    INFO(describe(c));
    CHECK(std::abs(c.error()) < 0.03);
  }
}

TEST_CASE("300I Duo H2P chunked-prefill steps: the serving cost formula matches a direct mixed-step simulation") {
  auto scenario = config::load_scenario(repo("scenarios/calibration/pro_moe_300i_duo_decode_bs80.json"));
  scenario.serving = test::duo_serving_block(2048, true);
  const std::vector<Mix> mixes = {
      {80, 2048, 0, 0},
      {80, 2048, 512, 0},
      {8, 1000, 1024, 1024},
      {40, 1500, 256, 2048},
  };
  for (const auto& c : compare(scenario, mixes)) {
    INFO(describe(c));
    CHECK(std::abs(c.error()) < 0.03);
  }
}

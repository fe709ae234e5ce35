#pragma once
// The step-cost profile of a serving scenario: sample steps built with strategy::build_inference_step on copies
// of the scenario (one instance, static decode at a grid of batch x KV length, static prefill at a grid of prompt
// lengths, plus KV transfers for P/D), chained one after the other in ONE op graph (each sample starts when the
// previous one has finished on every rank), simulated in one engine run; the per-sample times are read from the
// op timeline. Grid choice: docs/serving.md ("Step cost").
#include <string>
#include <vector>

#include "config/scenario_config.hpp"
#include "engine/simulation.hpp"
#include "model/op_graph.hpp"
#include "serving/profiled_step_cost.hpp"

namespace moesim::serving {

struct ProfileGrids {
  std::vector<int> decode_batches;
  std::vector<int> decode_kv_lens;
  std::vector<int> prefill_lens;     // prompt length of each prefill sample, one prompt per attention group
  std::vector<int> transfer_tokens;  // P/D only
};

// The scenario's grids (serving.profile) or, where absent, grids covering its workload and scheduler limits.
ProfileGrids choose_profile_grids(const config::ScenarioConfig& scenario);

enum class SampleKind { Decode, Prefill, Transfer, Extra };

struct ProfileSample {
  SampleKind kind = SampleKind::Decode;
  int batch = 0;             // decode: sequences; prefill: prompts (= dp)
  int length = 0;            // decode: KV length; prefill: prompt length; transfer: tokens
  model::OpId first_op = 0;  // the sample's ops are [first_op, barrier)
  model::OpId barrier = 0;   // zero-time op after the sample that waits for all of its ops
};

struct ProfileGraph {
  model::OpGraph graph;
  std::vector<ProfileSample> samples;
  config::TopologyConfig topology;  // the scenario's, cut to the ranks the profile uses
  std::string transfer_fabric;      // P/D: the cluster-scope fabric the KV moves over
};

// Throws std::invalid_argument when a sample does not fit the layout (from the step builder) or when P/D has no
// cluster-scope fabric in the topology.
ProfileGraph build_profile_graph(const config::ScenarioConfig& scenario, const ProfileGrids& grids);

// Appends `part` (a step of the same instance, e.g. a mixed chunked-prefill step) after the profile's samples, as
// one more chained sample of kind Extra, so that it runs on an idle instance in the same engine run; its time is
// extra_sample_s. read_step_profile ignores Extra samples. Returns the sample's index in profile.samples.
std::size_t append_extra_sample(ProfileGraph& profile, const model::OpGraph& part);
double extra_sample_s(const ProfileGraph& profile, const engine::SimulationResult& result, std::size_t index);

// Sample times and per-class busy times (rank 0) from a simulation of the profile graph.
StepProfile read_step_profile(const ProfileGraph& profile, const engine::SimulationResult& result);

}  // namespace moesim::serving

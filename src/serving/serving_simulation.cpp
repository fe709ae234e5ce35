#include "serving/serving_simulation.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

#include "serving/serving_report.hpp"
#include "strategy/inference_mtp.hpp"

namespace moesim::serving {

using nlohmann::json;

namespace {

std::string str(long long value) {
  return std::to_string(value);
}

std::string kv_limit(const KvCapacity& kv) {
  return "an instance's KV cache holds " + str(kv.tokens()) + " tokens (" + str(kv.blocks) + " blocks of " +
         str(kv.block_tokens) + ")" + kv.note();
}

void check_request(const std::string& where, int prompt, int output, const KvCapacity& kv, int max_tokens,
                   bool chunked) {
  const long long need = static_cast<long long>(prompt) + output;
  const long long blocks = (need + kv.block_tokens - 1) / kv.block_tokens;
  if (blocks > kv.blocks) {
    throw std::invalid_argument(where + ": a request of prompt " + str(prompt) + " + output " + str(output) +
                                " tokens can never fit: " + kv_limit(kv));
  }
  if (!chunked && prompt > max_tokens) {
    throw std::invalid_argument(where + ": a prompt of " + str(prompt) + " tokens exceeds max_tokens_per_step (" +
                                str(max_tokens) + ") and chunked_prefill is off");
  }
}

}  // namespace

int serving_instances(const config::ScenarioConfig& scenario) {
  return scenario.serving->instances.value_or(scenario.ranks / scenario.parallel.ranks());
}

void check_workload_fits(const config::ScenarioConfig& scenario, const KvCapacity& kv) {
  const auto& s = *scenario.serving;
  const auto& w = s.workload;
  const int max_tokens = s.scheduler.max_tokens_per_step;
  if (w.arrival.kind == config::ArrivalKind::Trace) {
    for (const auto& r : w.arrival.trace) {
      check_request(w.arrival.trace_file + " line " + str(r.line), r.prompt_tokens, r.output_tokens, kv, max_tokens,
                    s.scheduler.chunked_prefill);
    }
    return;
  }
  check_request(scenario.file + ": /serving/workload", w.prompt_tokens.upper_bound(), w.output_tokens.upper_bound(), kv,
                max_tokens, s.scheduler.chunked_prefill);
}

ServingRun simulate_serving(const config::ScenarioConfig& scenario, const engine::EngineOptions& options) {
  const auto& s = *scenario.serving;
  ServingRun run;
  run.kv = kv_capacity(scenario);
  check_workload_fits(scenario, run.kv);

  const auto profile_start = std::chrono::steady_clock::now();
  run.grids = choose_profile_grids(scenario);
  run.profile = build_profile_graph(scenario, run.grids);
  engine::EngineOptions engine_options = options;
  engine_options.record_ops = true;  // the sample times are read from the op timeline
  run.profile_result = engine::simulate(run.profile.topology, run.profile.graph, engine_options);
  run.step_profile = read_step_profile(run.profile, run.profile_result);
  run.profile_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - profile_start).count();

  const auto loop_start = std::chrono::steady_clock::now();
  const ProfiledStepCost cost(run.step_profile);
  ServingOptions o;
  o.instances = serving_instances(scenario);
  o.prefill_instances = s.disaggregation ? s.disaggregation->prefill_instances : 0;
  o.max_batch = s.scheduler.max_batch;
  o.max_tokens_per_step = s.scheduler.max_tokens_per_step;
  o.chunked_prefill = s.scheduler.chunked_prefill;
  o.kv_blocks = run.kv.blocks;
  o.block_tokens = run.kv.block_tokens;
  o.kv_limit_note = run.kv.note();
  o.seed = scenario.seed;
  // MTP speculation (strategy "mtp"): the profiled decode steps already verify 1 + k tokens per sequence and draft
  // k; the loop draws how many drafts each sequence accepts per step.
  for (const auto& spec : scenario.strategies) {
    if (spec.name == strategy::kMtpName)
      o.speculation.acceptance = spec.params.at("acceptance").get<std::vector<double>>();
  }
  WorkloadSource workload(s.workload, scenario.seed);
  run.result = run_serving(workload, cost, o);
  run.loop_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();

  ReportContext context;
  context.instances = o.instances;
  context.prefill_instances = o.prefill_instances;
  context.ranks_per_instance = scenario.parallel.ranks();
  context.devices = o.instances * context.ranks_per_instance;
  context.slo = s.slo;
  context.kv = run.kv;
  context.class_names = cost.class_names();
  run.metrics = serving_metrics(run.result, context);
  const auto& p = run.step_profile;
  run.metrics["profile"] = {{"samples", run.profile.samples.size()},
                            {"decode_batches", p.decode_batches},
                            {"decode_kv_lens", p.decode_kv_lens},
                            {"prefill_tokens", p.prefill_tokens},
                            {"simulated_s", run.profile_result.makespan_s}};
  json decode_ms = json::array();
  for (std::size_t b = 0; b < p.decode_batches.size(); ++b) {
    json row = json::array();
    for (std::size_t k = 0; k < p.decode_kv_lens.size(); ++k) {
      row.push_back(p.decode[b * p.decode_kv_lens.size() + k].time_s * 1e3);
    }
    decode_ms.push_back(row);
  }
  json prefill_ms = json::array();
  for (const auto& sample : p.prefill) prefill_ms.push_back(sample.time_s * 1e3);
  run.metrics["profile"]["decode_step_ms"] = decode_ms;  // [batch][kv]
  run.metrics["profile"]["prefill_step_ms"] = prefill_ms;
  if (!p.transfer_tokens.empty()) {
    json transfer_ms = json::array();
    for (double t : p.transfer_s) transfer_ms.push_back(t * 1e3);
    run.metrics["profile"]["transfer_ms"] = transfer_ms;
    run.metrics["profile"]["transfer_tokens"] = p.transfer_tokens;
    run.metrics["profile"]["transfer_fabric"] = run.profile.transfer_fabric;
  }
  return run;
}

}  // namespace moesim::serving

// `moesim run` on a serving scenario: one engine run of the step profile, the serving loop, summary.json
// (metrics from the serving loop; npu / phases / links of the profile run), requests.jsonl and steps.csv.
#include "app/serving_run.hpp"

#include <cstdio>
#include <iostream>

#include "app/scenario_loading.hpp"
#include "metrics/chrome_trace.hpp"
#include "metrics/summary.hpp"
#include "serving/serving_report.hpp"
#include "serving/serving_simulation.hpp"

namespace moesim::app {

using nlohmann::json;

namespace {

std::string serving_text(const config::ScenarioConfig& scenario, const serving::ServingRun& run) {
  const auto& s = *scenario.serving;
  const auto& m = run.metrics;
  char line[512];
  std::string out;
  std::snprintf(
      line, sizeof line,
      "serving     %d instance(s) of %d ranks%s, max batch %d, max %d tokens/step, chunked prefill %s\n",
      m["instances"]["count"].get<int>(), m["instances"]["ranks_per_instance"].get<int>(),
      s.disaggregation ? (" (" + std::to_string(s.disaggregation->prefill_instances) + " prefill)").c_str() : "",
      s.scheduler.max_batch, s.scheduler.max_tokens_per_step, s.scheduler.chunked_prefill ? "on" : "off");
  out += line;
  std::snprintf(line, sizeof line, "KV cache    %lld tokens per instance (%lld blocks of %d)%s\n", run.kv.tokens(),
                run.kv.blocks, run.kv.block_tokens, run.kv.note().c_str());
  out += line;
  std::snprintf(line, sizeof line,
                "profile     %zu sample steps simulated in %.2f s wall (the NPU, link and engine rows below describe "
                "this profile run); serving loop %.2f s wall\n",
                run.profile.samples.size(), run.profile_wall_s, run.loop_wall_s);
  out += line;
  return out;
}

}  // namespace

int run_serving_scenario(const RunOptions& options, const config::ScenarioConfig& scenario,
                         const engine::EngineOptions& engine_options,
                         std::chrono::steady_clock::time_point wall_start) {
  const serving::ServingRun run = serving::simulate_serving(scenario, engine_options);
  if (engine_options.on_progress) std::cerr << "\r\033[K" << std::flush;
  metrics::EngineFigures figures;
  figures.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  figures.peak_rss_mib = metrics::peak_rss_mib();
  json summary = metrics::build_summary(scenario, run.profile.graph, run.profile_result, run.metrics, figures);
  summary["simulated_time_s"] = run.result.makespan_s;  // of the serving run; the profile's is metrics.profile
  summary["sim"]["profile_wall_s"] = run.profile_wall_s;
  summary["sim"]["serving_loop_wall_s"] = run.loop_wall_s;
  if (!options.out_dir.empty()) {
    metrics::write_summary(options.out_dir, summary);
    serving::write_requests_jsonl(options.out_dir, run.result);
    serving::write_steps_csv(options.out_dir, run.result);
  }
  if (!options.trace_file.empty())
    metrics::write_chrome_trace(options.trace_file, run.profile.graph, run.profile_result);

  std::cout << scenario_text(scenario) << serving_text(scenario, run) << '\n';
  std::cout << metrics::summary_text(summary);
  if (!options.out_dir.empty()) {
    std::cout << "  wrote " << options.out_dir << "/summary.json, requests.jsonl, steps.csv\n";
  }
  if (!options.trace_file.empty()) std::cout << "  wrote " << options.trace_file << " (the step profile)\n";
  return kExitOk;
}

}  // namespace moesim::app

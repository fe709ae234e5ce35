// `moesim run`: build the scenario's operator graph, simulate it on the engine, report.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "app/commands.hpp"
#include "app/errors.hpp"
#include "app/scenario_loading.hpp"
#include "app/serving_run.hpp"
#include "engine/simulation.hpp"
#include "metrics/chrome_trace.hpp"
#include "metrics/summary.hpp"
#include "metrics/training_metrics.hpp"
#include "config/units.hpp"
#include "model/expert_load.hpp"
#include "model/inference_memory.hpp"
#include "model/inference_step_graph.hpp"
#include "model/microbenchmark_graph.hpp"
#include "strategy/inference_plan.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

namespace moesim::app {

using nlohmann::json;

namespace {

// `step_first_op` receives the first op of each training step (training.steps), `steady_phases` the stages' steady
// (1F1B) phases.
model::OpGraph build_graph(const config::ScenarioConfig& scenario, bool full_simulation,
                           std::vector<std::size_t>& step_first_op, std::vector<strategy::SteadyPhase>& steady_phases) {
  switch (scenario.type) {
    case config::ScenarioType::Microbenchmark:
      return model::build_microbenchmark_graph(*scenario.microbenchmark, scenario.ranks, scenario.seed);
    case config::ScenarioType::Training: {
      strategy::TrainingStepOptions training_options;
      training_options.reduce_dp = !full_simulation;  // DP-symmetry reduction unless --full
      auto step =
          strategy::build_training_step(scenario, *strategy::make_pipeline_schedule(scenario), training_options);
      step_first_op = step.step_first_op;
      steady_phases = std::move(step.steady_phases);
      return std::move(step.graph);
    }
    case config::ScenarioType::Inference:
      return strategy::build_inference_step(scenario);
  }
  throw std::logic_error("unknown scenario type");
}

// hccl_test / nccl-tests figures: time per iteration, algorithm and bus bandwidth.
json microbenchmark_metrics(const config::ScenarioConfig& scenario, const model::OpGraph& graph,
                            const engine::SimulationResult& result) {
  const auto& workload = *scenario.microbenchmark;
  const auto& collective = graph.collectives.front();
  const double time_s = result.makespan_s / workload.iterations;
  const double algbw = workload.size_bytes / time_s;
  const double busbw = algbw * model::bus_bandwidth_factor(collective.kind, static_cast<int>(collective.ranks.size()));
  return {{"operation", workload.operation},       {"size_bytes", workload.size_bytes},
          {"group_size", collective.ranks.size()}, {"iterations", workload.iterations},
          {"time_per_iteration_s", time_s},        {"algbw_gb_per_s", algbw / 1e9},
          {"busbw_gb_per_s", busbw / 1e9}};
}

// A one-line progress indicator on stderr, shown only once a run has taken 2 s, refreshed at most 4 times a second.
class ProgressLine {
 public:
  explicit ProgressLine(std::chrono::steady_clock::time_point start) : start_(start), last_(start) {}
  void operator()(std::size_t done, std::size_t total, double sim_clock_s) {
    const auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds(2) || now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    std::fprintf(stderr, "\r\033[K[moesim] %5.1f%% of %zu ops, simulated %.3f ms, wall %.1f s",
                 100.0 * static_cast<double>(done) / static_cast<double>(total), total, sim_clock_s * 1e3,
                 std::chrono::duration<double>(now - start_).count());
  }

 private:
  std::chrono::steady_clock::time_point start_, last_;
};

// Static-batch step figures: decode TPOT (tokens per sequence at KV length input_len; with MTP the step emits
// expected_tokens_per_step tokens per sequence) or prefill TTFT (throughput counts prompt tokens).
json inference_metrics(const config::ScenarioConfig& scenario, const engine::SimulationResult& result) {
  const auto& w = *scenario.inference;
  const double step_s = result.makespan_s;
  const bool decode = w.phase == config::InferencePhase::Decode;
  const double per_step = strategy::expected_tokens_per_step(scenario);
  const double tokens = decode ? w.batch_size * per_step : double(w.batch_size) * w.input_len;
  json m = {{"mode", "static_batch"},
            {"phase", decode ? "decode" : "prefill"},
            {"step_time_s", step_s},
            {"tokens_per_step_per_sequence", per_step},
            {"throughput_tokens_per_s", tokens / step_s},
            {"throughput_tokens_per_s_per_device", tokens / step_s / scenario.ranks}};
  if (decode) {
    m["tpot_ms"] = step_s / per_step * 1e3;
  } else {
    m["ttft_ms"] = step_s * 1e3;
  }
  const auto plan = strategy::inference_step_plan(scenario);
  if (scenario.model->moe &&
      (w.expert_load.distribution != config::ExpertLoadDistribution::Uniform || w.expert_load.sampled)) {
    m["expert_load_max_factor"] =
        model::expert_load(scenario, plan.expert_placement, 0, plan.redundant_experts_per_rank).max_factor();
  }
  // Device memory per rank (docs/inference.md "Memory"): a layout that does not fit is a result, not an error.
  const auto memory = model::static_inference_memory(scenario, plan.redundant_experts_per_rank);
  constexpr double kGiB = config::units::kGibibyte;
  m["peak_memory_gib"] = memory.total() / kGiB;
  m["device_memory_gib"] = memory.device / kGiB;
  m["oom"] = memory.oom();
  m["memory_breakdown_gib"] = {{"weights", memory.weights / kGiB},
                               {"redundant_expert_weights", memory.redundant_expert_weights / kGiB},
                               {"kv_cache", memory.kv_cache / kGiB},
                               {"workspace", memory.workspace / kGiB}};
  return m;
}

std::string microbenchmark_text(const json& m) {
  char line[256];
  std::string out = "        size(B)  operation      ranks     time(us)  algbw(GB/s)  busbw(GB/s)\n";
  std::snprintf(line, sizeof line, "%15.0f  %-13s %6d %12.2f %12.2f %12.2f\n", m["size_bytes"].get<double>(),
                m["operation"].get<std::string>().c_str(), m["group_size"].get<int>(),
                m["time_per_iteration_s"].get<double>() * 1e6, m["algbw_gb_per_s"].get<double>(),
                m["busbw_gb_per_s"].get<double>());
  return out + line;
}

}  // namespace

int run_command(const RunOptions& options) {
  return guarded([&] {
    const auto wall_start = std::chrono::steady_clock::now();
    const auto scenario = load_checked_scenario(options.scenario, options.overrides);
    engine::EngineOptions engine_options;
    engine_options.coarsen_compute = !options.full_simulation && options.trace_file.empty();
    engine_options.aggregate_cross_node_flows = !options.full_simulation;
    engine_options.analytic_pair_links = !options.full_simulation;
    engine_options.fold_symmetric_meshes = !options.full_simulation;
    engine_options.mirror_symmetric_ranks = !options.full_simulation && !options.no_mirror;
    if (!options.quiet && isatty(STDERR_FILENO)) engine_options.on_progress = ProgressLine(wall_start);
    if (scenario.serving) return run_serving_scenario(options, scenario, engine_options, wall_start);

    std::vector<std::size_t> step_first_op;
    std::vector<strategy::SteadyPhase> steady_phases;
    const model::OpGraph graph = build_graph(scenario, options.full_simulation, step_first_op, steady_phases);
    const engine::SimulationResult result = engine::simulate(scenario.topology, graph, engine_options);
    if (engine_options.on_progress) std::cerr << "\r\033[K" << std::flush;

    json workload_metrics = json::object();
    if (scenario.type == config::ScenarioType::Microbenchmark) {
      workload_metrics = microbenchmark_metrics(scenario, graph, result);
    } else if (scenario.type == config::ScenarioType::Inference) {
      workload_metrics = inference_metrics(scenario, result);
    } else if (scenario.type == config::ScenarioType::Training) {
      workload_metrics = metrics::training_metrics(scenario, graph, result, step_first_op, steady_phases);
    }
    metrics::EngineFigures figures;
    figures.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    figures.peak_rss_mib = metrics::peak_rss_mib();
    const json summary = metrics::build_summary(scenario, graph, result, workload_metrics, figures);

    if (!options.out_dir.empty()) metrics::write_summary(options.out_dir, summary);
    if (!options.trace_file.empty()) metrics::write_chrome_trace(options.trace_file, graph, result);

    std::cout << scenario_text(scenario) << '\n';
    if (scenario.type == config::ScenarioType::Microbenchmark)
      std::cout << microbenchmark_text(workload_metrics) << '\n';
    std::cout << metrics::summary_text(summary);
    if (!options.out_dir.empty()) std::cout << "  wrote " << options.out_dir << "/summary.json\n";
    if (!options.trace_file.empty()) std::cout << "  wrote " << options.trace_file << '\n';
    return kExitOk;
  });
}

}  // namespace moesim::app

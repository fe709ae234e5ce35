#include "metrics/training_metrics.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "config/units.hpp"
#include "metrics/ep_overlap.hpp"
#include "metrics/intervals.hpp"
#include "metrics/npu_usage.hpp"
#include "metrics/training_plan_metrics.hpp"
#include "model/expert_load.hpp"
#include "model/model_stats.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "strategy/data_balance_sequences.hpp"
#include "strategy/expert_loads.hpp"
#include "strategy/expert_placement_balanced.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"
#include "strategy/moe_comm.hpp"
#include "strategy/overlap.hpp"
#include "strategy/tp_comm_overlap_coc.hpp"

namespace moesim::metrics {

using nlohmann::json;

namespace {

constexpr double kGiB = config::units::kGibibyte;

// Bytes the busiest rank sends in expert migrations over the simulated steps (the DP-reduced graph holds whole EP
// groups, so its busiest rank is the layout's).
double expert_migration_gib(const model::OpGraph& graph) {
  std::vector<double> sent(static_cast<std::size_t>(graph.num_ranks), 0.0);
  std::vector<char> seen(graph.collectives.size(), 0);
  for (const auto& op : graph.ops) {
    if (op.phase != "expert_migration" || op.kind != model::OpKind::Collective) continue;
    if (seen[static_cast<std::size_t>(op.collective)]) continue;
    seen[static_cast<std::size_t>(op.collective)] = 1;
    const auto& c = graph.collectives[static_cast<std::size_t>(op.collective)];
    const std::size_t n = c.ranks.size();
    const double bytes = config::bytes_per_element(c.dtype);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j)
        sent[static_cast<std::size_t>(c.ranks[i])] += c.per_pair_elements[i * n + j] * bytes;
    }
  }
  return sent.empty() ? 0.0 : *std::max_element(sent.begin(), sent.end()) / kGiB;
}

}  // namespace

double training_model_flops(const config::ScenarioConfig& scenario) {
  const auto& t = *scenario.training;
  const double tokens = double(t.global_batch_size) * t.seq_len;
  return 3.0 * model::flops_per_token_forward(*scenario.model, t.seq_len) * tokens;
}

PipelineTimeline pipeline_timeline(const model::OpGraph& graph, const engine::SimulationResult& result,
                                   std::size_t first_op, std::size_t end_op) {
  PipelineTimeline out;
  if (result.ops.size() != graph.ops.size() || !(result.makespan_s > 0.0)) return out;
  end_op = std::min(end_op, graph.ops.size());
  double t0 = 0.0, t1 = 0.0;  // the span of the ops: from the end of the ops before them to their last end
  for (std::size_t id = 0; id < first_op && id < graph.ops.size(); ++id) t0 = std::max(t0, result.ops[id].end_s);
  for (std::size_t id = first_op; id < end_op; ++id) t1 = std::max(t1, result.ops[id].end_s);
  const double span = t1 - t0;
  if (!(span > 0.0)) return out;
  double lo = std::numeric_limits<double>::max(), hi = 0.0;
  const auto ranks = static_cast<std::size_t>(graph.num_ranks);
  std::vector<std::vector<Interval>> compute(ranks), pipeline_comm(ranks), comm(ranks);
  for (std::size_t id = first_op; id < end_op; ++id) {
    const auto& op = graph.ops[id];
    if (result.timing_source(op.rank) != op.rank) continue;  // mirrored: its leader's figures, below
    const Interval i{result.ops[id].start_s, result.ops[id].end_s};
    const auto r = static_cast<std::size_t>(op.rank);
    if (op.kind == model::OpKind::Compute) {
      compute[r].push_back(i);
      if (op.phase == "optimizer") continue;
      lo = std::min(lo, i.first);
      hi = std::max(hi, i.second);
    } else if (op.kind == model::OpKind::Collective || op.phase == "dp_comm") {  // incl. the reduction's latency
      comm[r].push_back(i);
      if (op.phase != "dp_comm") pipeline_comm[r].push_back(i);
    }
  }
  if (!(hi > lo)) return out;
  out.window_s = hi - lo;
  double bubble = 0.0, exposed = 0.0, busy = 0.0;
  std::vector<std::array<double, 3>> per_rank(ranks);  // bubble, busy, exposed
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto source = static_cast<std::size_t>(result.timing_source(static_cast<int>(r)));
    if (source != r) {
      per_rank[r] = per_rank[source];
      bubble += per_rank[r][0];
      busy += per_rank[r][1];
      exposed += per_rank[r][2];
      continue;
    }
    const auto c = merge_intervals(compute[r]);
    auto work = c;
    const auto pc = merge_intervals(pipeline_comm[r]);
    work.insert(work.end(), pc.begin(), pc.end());
    auto all = c;
    const auto m = merge_intervals(comm[r]);
    all.insert(all.end(), m.begin(), m.end());
    const double c_step = clipped_length(c, t0, t1);
    per_rank[r] = {out.window_s - clipped_length(merge_intervals(work), lo, hi), c_step,
                   clipped_length(merge_intervals(all), t0, t1) - c_step};
    bubble += per_rank[r][0];
    busy += per_rank[r][1];
    exposed += per_rank[r][2];
  }
  out.bubble_fraction = bubble / (out.window_s * static_cast<double>(ranks));
  out.exposed_comm_fraction = exposed / (span * static_cast<double>(ranks));
  out.compute_fraction = busy / (span * static_cast<double>(ranks));
  return out;
}

json training_memory_json(const config::ScenarioConfig& scenario,
                          const std::vector<std::vector<strategy::PipelineTask>>& stage_orders) {
  const auto stages = model::assign_layers(*scenario.model, scenario.parallel, strategy::chunk_placement(scenario));
  const auto& p = scenario.parallel;
  const auto moe_comm = strategy::moe_comm_plan(scenario);
  const auto plan = strategy::resolve_memory_plan(scenario, stage_orders).plan;
  const auto load = strategy::scenario_expert_loads(scenario).worst();
  json per_stage = json::array();
  model::StageMemory worst;
  bool first = true;
  double activations = 0.0, activations_keep_all = 0.0;  // the largest over stages
  for (int s = 0; s < p.pp; ++s) {
    std::vector<int> per_chunk;
    strategy::peak_in_flight(stage_orders[static_cast<std::size_t>(s)], p.vpp, &per_chunk);
    const auto memory = model::stage_memory(scenario, stages, s, per_chunk, plan, moe_comm, load);
    activations = std::max(activations, memory.breakdown.activations_bytes);
    activations_keep_all = std::max(activations_keep_all, memory.breakdown.activations_keep_all_bytes);
    per_stage.push_back({{"stage", s},
                         {"peak_gib", memory.breakdown.total() / kGiB},
                         {"in_flight_micro_batches", memory.in_flight_micro_batches}});
    if (first || memory.breakdown.total() > worst.breakdown.total()) worst = memory;
    first = false;
  }
  const auto& b = worst.breakdown;
  json modules = json::object();
  for (const auto& [module, bytes] : b.activations_by_module) modules[module] = bytes / kGiB;
  const int stage_size = p.tp * p.cp * p.dp;
  return {{"peak_memory_gib", b.total() / kGiB},
          {"device_memory_gib", worst.capacity_bytes / kGiB},
          {"oom", worst.oom},
          {"oom_rank", worst.oom ? json(worst.stage * stage_size) : json(nullptr)},
          {"peak_stage", worst.stage},
          {"memory_breakdown_gib",
           {{"weights", b.weights_bytes / kGiB},
            {"gradients", b.gradients_bytes / kGiB},
            {"optimizer_states", b.optimizer_bytes / kGiB},
            {"activations", b.activations_bytes / kGiB},
            {"comm_buffers", b.comm_buffers_bytes / kGiB},
            {"workspace", b.workspace_bytes / kGiB},
            {"activations_by_module", modules}}},
          {"memory_per_stage", per_stage},
          {"activations_without_plan_gib", activations_keep_all / kGiB},
          {"activation_memory_saved_fraction",
           activations_keep_all > 0.0 ? 1.0 - activations / activations_keep_all : 0.0}};
}

json training_metrics(const config::ScenarioConfig& scenario, const model::OpGraph& graph,
                      const engine::SimulationResult& result, const std::vector<std::size_t>& step_first_op,
                      const std::vector<strategy::SteadyPhase>& steady_phases) {
  const auto& t = *scenario.training;
  const auto& p = scenario.parallel;
  const auto schedule = strategy::make_pipeline_schedule(scenario);
  const int micro_batches = config::micro_batches_per_step(scenario);
  const auto orders = strategy::stage_orders(*schedule, scenario);
  const StepTimes steps = step_times(graph, result, step_first_op);
  const double step_s = steps.mean_s;
  const double tokens = double(t.global_batch_size) * t.seq_len;
  const double flops = training_model_flops(scenario);
  const double peak = scenario.topology.device.peak(config::Dtype::BF16);  // the roofline's
  const double mfu_peak = scenario.topology.device.mfu_peak();             // the convention of published MFUs
  // timeline figures of the last step (the steady state when several are simulated)
  const auto timeline = pipeline_timeline(graph, result, steps.last_step_first_op);
  const auto overlap = strategy::make_overlap_strategy(scenario);
  const auto ep = ep_overlap(graph, result, steady_phases);
  json m = {{"step_time_s", step_s},
            {"tokens_per_step", tokens},
            {"tokens_per_s", tokens / step_s},
            {"tokens_per_s_per_npu", tokens / step_s / scenario.ranks},
            {"model_flops_per_step", flops},
            {"mfu", flops / (step_s * scenario.ranks * mfu_peak)},
            {"mfu_peak_tflops", mfu_peak / 1e12},
            {"mfu_at_roofline_peak", flops / (step_s * scenario.ranks * peak)},
            {"bubble_fraction", timeline.bubble_fraction},
            {"exposed_comm_fraction", timeline.exposed_comm_fraction},
            {"compute_fraction", timeline.compute_fraction},
            {"pipeline_window_s", timeline.window_s},
            {"schedule", schedule->name()},
            {"overlap", overlap ? overlap->name() : "none"},
            {"micro_batches", micro_batches},
            {"simulated_dp", graph.num_ranks / (p.tp * p.cp * p.pp)},
            {"full_dp", p.dp}};
  m["ep_comm_hidden_fraction"] = ep.ranks > 0 ? json(ep.hidden_fraction) : json(nullptr);
  m["ep_comm_exposed_s"] = ep.exposed_s;
  const auto tp = ep_overlap(graph, result, {}, "tp_comm");
  m["tp_comm_hidden_fraction"] = tp.ranks > 0 ? json(tp.hidden_fraction) : json(nullptr);
  m["tp_comm_exposed_s"] = tp.exposed_s;
  m["tp_comm_overlap"] = strategy::tp_chunking(scenario).chunks > 1 ? strategy::kCocName : "none";
  if (scenario.model->moe) {
    const auto loads = strategy::scenario_expert_loads(scenario);
    m["expert_load_max_factor"] = loads.max_factor();
    if (loads.steps.size() > 1) {
      json by_step = json::array();
      for (const auto& load : loads.steps) by_step.push_back(load.max_factor());
      m["expert_load_max_factor_by_step"] = by_step;
    }
    if (strategy::expert_placement_policy(scenario).dynamic) {
      m["expert_moves"] = loads.move_count();
      m["expert_migration_gib"] = expert_migration_gib(graph);
    }
  } else {
    m["expert_load_max_factor"] = nullptr;
  }
  if (const auto work = strategy::scenario_attention_work(scenario); !work.empty()) {
    // documents: attention work relative to full-length documents, its spread over replicas and micro-batches
    m["documents"] = {{"attention_work_mean", work.mean()},
                      {"piece_tokens_mean", work.piece_tokens_mean},
                      {"replica_work_max_over_mean", work.replica_max_over_mean()},
                      {"micro_batch_work_max_over_mean", work.micro_batch_max_over_mean()}};
    if (work.cp_shards > 1) {  // under CP: the slowest query shard of each micro-batch against an even split
      m["documents"]["cp_shards"] = work.cp_shards;
      m["documents"]["cp_shard_work_max_over_mean"] = work.cp_shard_max_over_mean();
    }
    if (scenario.training->steps > 1) {  // each step draws its own documents; the figures above are step 0's
      json by_step = json::array();
      for (int k = 0; k < scenario.training->steps; ++k)
        by_step.push_back(strategy::scenario_attention_work(scenario, k).replica_max_over_mean());
      m["documents"]["replica_work_max_over_mean_by_step"] = by_step;
    }
  }
  if (!steady_phases.empty()) {
    m["ep_comm_hidden_fraction_steady"] = ep.steady_ranks > 0 ? json(ep.steady_hidden_fraction) : json(nullptr);
    m["ep_comm_steady_share"] = ep.ranks > 0 ? json(ep.steady_share) : json(nullptr);
  }
  m.update(training_memory_json(scenario, orders));
  m.update(memory_plan_metrics(scenario, graph, orders, flops, double(steps.times_s.size())));
  if (steps.times_s.size() > 1) m["step_times_s"] = steps.times_s;
  json phases = json::object();
  for (const auto& [phase, seconds] : phase_time_s(graph, result))
    phases[phase] = seconds / double(steps.times_s.size());
  m["phase_time_s"] = phases;
  return m;
}

}  // namespace moesim::metrics

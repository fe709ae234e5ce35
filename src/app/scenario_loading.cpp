#include "app/scenario_loading.hpp"

#include <sstream>

#include "serving/serving_simulation.hpp"
#include "strategy/catalog.hpp"
#include "strategy/kernel_matmul_retiling.hpp"
#include "strategy/pipeline_stage_balance.hpp"

namespace moesim::app {

config::ScenarioConfig load_checked_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  auto scenario = config::load_scenario(path, overrides);
  config::IssueCollector issues(path);
  strategy::validate_strategies(scenario, issues);
  issues.throw_if_any();
  strategy::apply_matmul_retiling(scenario);  // before anything times an op: raises the device's GEMM efficiencies
  strategy::apply_stage_balance(scenario);  // writes the chosen cut into parallel.layers_per_virtual_stage
  if (scenario.serving) serving::check_workload_fits(scenario, serving::kv_capacity(scenario));
  return scenario;
}

std::string scenario_text(const config::ScenarioConfig& s) {
  std::ostringstream out;
  out << "scenario    " << s.name << " (" << to_string(s.type) << ", seed " << s.seed << ")  " << s.file << '\n';
  if (s.model) out << "model       " << s.model->name << "  " << s.model->file << '\n';
  out << "topology    " << s.topology.name << "  " << s.topology.file << '\n';
  out << "cluster     " << s.ranks << " ranks of " << s.topology.device.name << " on " << s.topology.nodes
      << " node(s) of " << s.topology.ranks_per_node() << '\n';
  const auto& p = s.parallel;
  out << "layout      tp " << p.tp << "  pp " << p.pp << "  vpp " << p.vpp << "  cp " << p.cp << "  dp " << p.dp
      << "  ep " << p.ep << "  expert_tp " << p.expert_tp << "  sequence_parallel "
      << (p.sequence_parallel ? "on" : "off") << "  padding_layers " << p.padding_layers;
  if (!p.layers_per_virtual_stage.empty()) {
    out << "  layers_per_virtual_stage";
    for (int n : p.layers_per_virtual_stage) out << ' ' << n;
  }
  out << '\n';
  if (s.training) {
    const auto& t = *s.training;
    out << "workload    training: seq " << t.seq_len << ", micro-batch " << t.micro_batch_size << ", global batch "
        << t.global_batch_size << " (" << config::micro_batches_per_step(s) << " micro-batches per DP rank), "
        << to_string(t.dtype) << ", " << t.steps << " step(s)\n";
  }
  if (s.serving) {
    const auto& w = *s.inference;
    const auto& a = s.serving->workload.arrival;
    out << "workload    serving: " << to_string(a.kind) << " arrivals";
    if (a.kind == config::ArrivalKind::Trace) out << " from " << a.trace_file << " (" << a.trace.size() << " requests)";
    if (s.serving->workload.requests) out << ", " << *s.serving->workload.requests << " requests";
    if (s.serving->workload.duration_s) out << ", for " << *s.serving->workload.duration_s << " s";
    out << ", weights " << to_string(w.weight_dtype) << ", activations " << to_string(w.activation_dtype) << ", KV "
        << to_string(w.kv_dtype) << '\n';
  } else if (s.inference) {
    const auto& w = *s.inference;
    out << "workload    inference " << (w.phase == config::InferencePhase::Prefill ? "prefill" : "decode")
        << ": batch " << w.batch_size << ", input " << w.input_len << ", output " << w.output_len << ", weights "
        << to_string(w.weight_dtype) << ", activations " << to_string(w.activation_dtype) << ", KV "
        << to_string(w.kv_dtype) << '\n';
  }
  if (s.microbenchmark) {
    const auto& m = *s.microbenchmark;
    out << "workload    microbenchmark: " << m.operation << " of " << m.size_bytes << " bytes over " << m.ranks.size()
        << " ranks, algorithm " << m.algorithm << ", " << to_string(m.dtype) << ", " << m.iterations
        << " iteration(s)\n";
  }
  // the device's roofline efficiencies as this scenario uses them (after strategies that raise them)
  const auto& device = s.topology.device;
  out << "efficiency  compute / memory:";
  auto flag = [](const config::SourcedValue& v) { return strategy::raised_by_matmul_retiling(v) ? "*" : ""; };
  bool raised = false;
  for (int c = 0; c < config::kOpClassCount; ++c) {
    const auto op_class = static_cast<config::OpClass>(c);
    if (!device.has_efficiency(op_class)) continue;
    const auto& e = device.efficiency[static_cast<std::size_t>(c)];
    out << "  " << to_string(op_class) << ' ' << e.compute.value << flag(e.compute) << " / " << e.memory.value
        << flag(e.memory);
    raised = raised || *flag(e.compute) || *flag(e.memory);
  }
  out << (raised ? "  (* raised by matmul_retiling)" : "") << '\n';
  out << "strategies  ";
  if (s.strategies.empty()) out << "(none)";
  for (std::size_t i = 0; i < s.strategies.size(); ++i) {
    out << (i ? ", " : "") << s.strategies[i].name;
    if (!s.strategies[i].params.empty()) out << ' ' << s.strategies[i].params.dump();
  }
  out << '\n';
  for (const auto& figure : s.published) {
    out << "published   " << figure.metric << " = " << figure.value << " (+-" << figure.tolerance_rel * 100
        << "%, " << figure.role << ")  " << figure.source << '\n';
  }
  return out.str();
}

}  // namespace moesim::app

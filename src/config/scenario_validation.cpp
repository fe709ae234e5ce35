#include "config/scenario_validation.hpp"

#include <algorithm>
#include <sstream>
#include <string>

namespace moesim::config {

namespace {

std::string str(long long value) {
  return std::to_string(value);
}

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Training runs on every rank; an inference scenario is one instance on every rank.
void check_layout_covers_ranks(const ScenarioConfig& scenario, IssueCollector& issues) {
  const ParallelLayout& p = scenario.parallel;
  if (p.ranks() != scenario.ranks) {
    issues.error("/parallel", "tp x pp x cp x dp = " + str(p.tp) + " x " + str(p.pp) + " x " + str(p.cp) + " x " +
                                  str(p.dp) + " = " + str(p.ranks()) + ", expected the scenario's " +
                                  str(scenario.ranks) + " ranks");
  }
}

// parallel.layers_per_virtual_stage: one count per virtual stage, summing to the model's layers; the MTP modules go
// to the last virtual stage (with the head), so no padding is needed.
void validate_layer_placement(const ScenarioConfig& scenario, IssueCollector& issues) {
  const ParallelLayout& p = scenario.parallel;
  const auto& counts = p.layers_per_virtual_stage;
  long long sum = 0;
  for (int n : counts) {
    if (n < 0) return;  // already reported where it was read
    sum += n;
  }
  if (static_cast<int>(counts.size()) != p.pp * p.vpp) {
    issues.error("/parallel/layers_per_virtual_stage", "expected pp x vpp = " + str(p.pp * p.vpp) +
                                                           " counts (virtual stage chunk x pp + stage), got " +
                                                           str(static_cast<long long>(counts.size())));
  }
  if (sum != scenario.model->num_layers) {
    issues.error("/parallel/layers_per_virtual_stage", "counts sum to " + str(sum) + ", expected the model's " +
                                                           str(scenario.model->num_layers) + " layers (" +
                                                           scenario.model->file +
                                                           "; MTP modules go to the last "
                                                           "virtual stage by themselves)");
  }
  if (p.padding_layers != 0) {
    issues.error("/parallel/padding_layers", "padding_layers and layers_per_virtual_stage exclude each other");
  }
}

void validate_model_layout(const ScenarioConfig& scenario, IssueCollector& issues) {
  const ModelConfig& model = *scenario.model;
  const ParallelLayout& p = scenario.parallel;
  const auto& attention = model.attention;
  if (attention.num_heads % p.tp != 0) {
    issues.error("/parallel/tp", "tp " + str(p.tp) + " must divide the attention heads (" + str(attention.num_heads) +
                                     " in " + model.file + ")");
  }
  if (attention.kind != AttentionKind::MLA && attention.num_kv_heads % p.tp != 0 &&
      p.tp % attention.num_kv_heads != 0) {
    issues.error("/parallel/tp", "tp " + str(p.tp) + " must divide, or be a multiple of, the KV heads (" +
                                     str(attention.num_kv_heads) + ")");
  }
  if (model.moe) {
    const int ep_size = p.expert_parallel_size();
    if (model.moe->num_routed_experts % ep_size != 0) {
      issues.error("/parallel/ep", "expert-parallel size " + str(ep_size) + (p.tp_extend_ep ? " (ep x tp)" : "") +
                                       " must divide the routed experts (" + str(model.moe->num_routed_experts) + ")");
    }
    const int expert_domain = p.tp * p.dp * p.cp;
    if (expert_domain % (ep_size * p.expert_tp) != 0) {
      issues.error("/parallel/ep", "expert-parallel size x expert_tp = " + str(ep_size * p.expert_tp) +
                                       " must divide tp x dp x cp = " + str(expert_domain) +
                                       " (expert groups are carved from the data/tensor-parallel ranks)");
    }
  } else if (p.ep != 1) {
    issues.error("/parallel/ep", "ep must be 1 for a dense model (" + model.file + " has no \"moe\")");
  }
  if (p.vpp > 1 && p.pp == 1) issues.error("/parallel/vpp", "vpp > 1 needs pp > 1");
  if (!p.layers_per_virtual_stage.empty()) {
    validate_layer_placement(scenario, issues);
    return;
  }
  // The stage_balance strategy (strategy/pipeline_stage_balance) chooses uneven counts itself: no even split needed.
  const bool balanced = std::any_of(scenario.strategies.begin(), scenario.strategies.end(),
                                    [](const StrategySpec& spec) { return spec.name == "stage_balance"; });
  const int slots = model.num_layers + model.mtp_layers + p.padding_layers;
  if (!balanced && slots % (p.pp * p.vpp) != 0) {
    issues.error("/parallel/pp", "pp x vpp = " + str(p.pp * p.vpp) +
                                     " must divide the pipeline slots: " + str(model.num_layers) + " layers + " +
                                     str(model.mtp_layers) + " MTP + " + str(p.padding_layers) +
                                     " padding = " + str(slots) + " (add parallel.padding_layers)");
  }
}

// `at`: "/training/expert_load" or "/inference/expert_load".
void validate_expert_load(const ScenarioConfig& scenario, const ExpertLoadSpec& load, const std::string& at,
                          IssueCollector& issues) {
  if ((load.distribution == ExpertLoadDistribution::Uniform && load.drift_sigma == 0.0 && !load.sampled &&
       load.micro_batch_sigma == 0.0) ||
      !scenario.model)
    return;
  if (!scenario.model->moe) {
    issues.error(at, "the model has no routed experts to load");
    return;
  }
  if (load.drift_sigma > 0.0 && !scenario.training)
    issues.error(at + "/drift_sigma", "the load drifts between training steps: inference simulates one pattern");
  if (load.micro_batch_sigma > 0.0 && !scenario.training)
    issues.error(at + "/micro_batch_sigma",
                 "the load varies between a training step's micro-batches: an inference step has none");
  if (load.distribution != ExpertLoadDistribution::Shares) return;
  const int experts = scenario.model->moe->num_routed_experts;
  int moe_layers = 0;
  for (int l = 0; l < scenario.model->num_layers; ++l) moe_layers += l >= scenario.model->num_dense_layers;
  const auto rows = static_cast<int>(load.shares.size());
  if (rows != 1 && rows != moe_layers) {
    issues.error(at + "/shares",
                 "expected 1 row (every MoE layer) or one per MoE layer (" + str(moe_layers) + "), got " + str(rows));
  }
  for (std::size_t r = 0; r < load.shares.size(); ++r) {
    if (static_cast<int>(load.shares[r].size()) != experts) {
      issues.error(pointer_index(at + "/shares", r),
                   "expected " + str(experts) + " shares (one per routed expert), got " + str(load.shares[r].size()));
    }
  }
}

void validate_training(const ScenarioConfig& scenario, IssueCollector& issues) {
  const ParallelLayout& p = scenario.parallel;
  const TrainingWorkload& t = *scenario.training;
  check_layout_covers_ranks(scenario, issues);
  if (t.seq_len % p.cp != 0) issues.error("/training/seq_len", "must be divisible by cp (" + str(p.cp) + ")");
  if (p.sequence_parallel && t.seq_len % (p.cp * p.tp) != 0) {
    issues.error("/training/seq_len",
                 "with sequence_parallel, must be divisible by cp x tp (" + str(p.cp * p.tp) + ")");
  }
  if (t.global_batch_size % (p.dp * t.micro_batch_size) != 0) {
    issues.error("/training/global_batch_size",
                 "must be a multiple of dp x micro_batch_size = " + str(p.dp * t.micro_batch_size));
    return;
  }
  const int micro_batches = t.global_batch_size / (p.dp * t.micro_batch_size);
  if (p.pp > 1 && micro_batches < p.pp) {
    issues.error("/training/global_batch_size", str(micro_batches) + " micro-batches per DP rank do not fill " +
                                                    str(p.pp) + " pipeline stages (need at least pp)");
  }
  if (scenario.model && t.seq_len > scenario.model->max_seq_len) {
    issues.error("/training/seq_len", "exceeds the model's max_seq_len (" + str(scenario.model->max_seq_len) + ")");
  }
  validate_expert_load(scenario, t.expert_load, "/training/expert_load", issues);
}

// Serving: the layout is one instance; instances (default ranks / instance ranks) must fit in the ranks.
void validate_serving(const ScenarioConfig& scenario, IssueCollector& issues) {
  const ServingConfig& s = *scenario.serving;
  const int per_instance = scenario.parallel.ranks();
  const int instances = s.instances.value_or(scenario.ranks / per_instance);
  if (instances < 1 || instances * per_instance > scenario.ranks) {
    issues.error(s.instances ? "/serving/instances" : "/parallel",
                 "one instance takes tp x pp x cp x dp = " + str(per_instance) + " ranks; " + str(instances) +
                     " instance(s) need " + str(std::max(instances, 1) * per_instance) + ", the scenario has " +
                     str(scenario.ranks));
  }
  if (s.disaggregation && s.disaggregation->prefill_instances >= instances) {
    issues.error("/serving/disaggregation/prefill_instances",
                 "expected fewer than the " + str(instances) + " instances (the others decode)");
  }
  if (!scenario.model) return;
  const int max_seq = scenario.model->max_seq_len;
  const auto& w = s.workload;
  if (w.arrival.kind != ArrivalKind::Trace && w.prompt_tokens.upper_bound() + w.output_tokens.upper_bound() > max_seq) {
    issues.error("/serving/workload", "the longest request (prompt " + str(w.prompt_tokens.upper_bound()) +
                                          " + output " + str(w.output_tokens.upper_bound()) +
                                          " tokens) exceeds the model's max_seq_len (" + str(max_seq) + ")");
  }
  for (const auto& request : w.arrival.trace) {
    if (request.prompt_tokens + request.output_tokens > max_seq) {
      issues.error("/serving/workload/arrival/file", w.arrival.trace_file + " line " + str(request.line) +
                                                         ": prompt + output tokens exceed the model's max_seq_len (" +
                                                         str(max_seq) + ")");
      break;
    }
  }
}

void validate_inference(const ScenarioConfig& scenario, IssueCollector& issues) {
  validate_expert_load(scenario, scenario.inference->expert_load, "/inference/expert_load", issues);
  if (scenario.serving) {
    validate_serving(scenario, issues);
    return;
  }
  check_layout_covers_ranks(scenario, issues);
  const InferenceWorkload& w = *scenario.inference;
  if (scenario.model && w.input_len + w.output_len > scenario.model->max_seq_len) {
    issues.error("/inference/input_len",
                 "input_len + output_len exceeds the model's max_seq_len (" + str(scenario.model->max_seq_len) + ")");
  }
}

void validate_microbenchmark(const ScenarioConfig& scenario, IssueCollector& issues) {
  const MicrobenchmarkWorkload& m = *scenario.microbenchmark;
  for (std::size_t i = 0; i < m.ranks.size(); ++i) {
    if (m.ranks[i] >= scenario.ranks) {
      issues.error(
          "/microbenchmark/ranks/" + std::to_string(i),
          "rank " + str(m.ranks[i]) + " does not exist (the scenario has ranks 0.." + str(scenario.ranks - 1) + ")");
    }
  }
  if (static_cast<int>(m.ranks.size()) > scenario.ranks) {
    issues.error("/microbenchmark/group_size",
                 "group of " + str(m.ranks.size()) + " exceeds the scenario's " + str(scenario.ranks) + " ranks");
  }
  if (m.operation == "send_recv" && m.ranks.size() != 2) {
    issues.error("/microbenchmark", "send_recv needs exactly 2 ranks");
  }
  if (m.ranks.size() < 2) issues.error("/microbenchmark", "a collective needs at least 2 ranks");
  // The payload is a buffer on each rank: it cannot exceed the device memory (also keeps the flows finite).
  const double capacity = scenario.topology.device.memory_bytes.value;
  if (capacity > 0.0 && m.size_bytes > capacity) {
    issues.error("/microbenchmark/size_bytes", "expected at most the device memory of a rank (" +
                                                   str(static_cast<long long>(capacity)) + " bytes), got " +
                                                   number_text(m.size_bytes));
  }
}

}  // namespace

void validate_scenario(ScenarioConfig& scenario, IssueCollector& issues) {
  const int available = scenario.topology.total_ranks();
  if (scenario.ranks <= 0 || scenario.ranks > available) {
    issues.error("/ranks", "expected 1.." + str(available) + " ranks (" + scenario.topology.file + " has " +
                               str(available) + "), got " + str(scenario.ranks));
    return;
  }
  const int per_node = scenario.topology.ranks_per_node();
  scenario.topology.nodes = (scenario.ranks + per_node - 1) / per_node;
  if (scenario.model && scenario.type != ScenarioType::Microbenchmark) validate_model_layout(scenario, issues);
  if (scenario.training) validate_training(scenario, issues);
  if (scenario.inference) validate_inference(scenario, issues);
  if (scenario.microbenchmark) validate_microbenchmark(scenario, issues);
}

int micro_batches_per_step(const ScenarioConfig& scenario) {
  if (!scenario.training) return 0;
  return scenario.training->global_batch_size / (scenario.parallel.dp * scenario.training->micro_batch_size);
}

}  // namespace moesim::config

// Loading of scenario files: strict reading of every section, then layout validation.
#include "config/scenario_config.hpp"

#include <filesystem>

#include "config/scenario_validation.hpp"

namespace moesim::config {

using nlohmann::json;

std::string to_string(ScenarioType type) {
  switch (type) {
    case ScenarioType::Training:
      return "training";
    case ScenarioType::Inference:
      return "inference";
    case ScenarioType::Microbenchmark:
      return "microbenchmark";
  }
  return "?";
}

namespace {

Dtype read_dtype(ObjectReader& reader, const std::string& key, std::optional<Dtype> fallback) {
  auto text = fallback ? reader.optional_choice(key, dtype_names()) : std::optional(reader.choice(key, dtype_names()));
  if (text && !text->empty()) return *parse_dtype(*text);
  return fallback.value_or(Dtype::BF16);
}

ParallelLayout read_parallel(ObjectReader reader) {
  ParallelLayout layout;
  auto read_degree = [&](const char* key, int& field) {
    if (auto value = reader.optional_integer(key)) field = static_cast<int>(*value);
  };
  read_degree("tp", layout.tp);
  read_degree("pp", layout.pp);
  read_degree("vpp", layout.vpp);
  read_degree("cp", layout.cp);
  read_degree("dp", layout.dp);
  read_degree("ep", layout.ep);
  read_degree("expert_tp", layout.expert_tp);
  layout.tp_extend_ep = reader.optional_boolean("tp_extend_ep").value_or(false);
  layout.sequence_parallel = reader.optional_boolean("sequence_parallel").value_or(false);
  layout.padding_layers = static_cast<int>(reader.optional_integer("padding_layers", Range::NonNegative).value_or(0));
  if (reader.has("layers_per_virtual_stage")) {
    for (const auto& [element, pointer] : reader.array("layers_per_virtual_stage", 1)) {
      if (element->is_number_integer() && element->get<long long>() >= 0 && element->get<long long>() <= 1000000) {
        layout.layers_per_virtual_stage.push_back(static_cast<int>(element->get<long long>()));
      } else {
        reader.issues().error(pointer, "expected a layer count (integer >= 0)");
        layout.layers_per_virtual_stage.push_back(-1);  // reported; the placement checks skip the list
      }
    }
  }
  reader.finish();
  return layout;
}

ExpertLoadSpec read_expert_load(ObjectReader reader) {
  ExpertLoadSpec spec;
  const auto distribution = reader.choice("distribution", {"uniform", "zipf", "shares"});
  if (distribution == "zipf") {
    spec.distribution = ExpertLoadDistribution::Zipf;
    spec.exponent = reader.number("exponent", Range::NonNegative);
  } else if (distribution == "shares") {
    spec.distribution = ExpertLoadDistribution::Shares;
    for (const auto& [row, row_pointer] : reader.array("shares")) {
      if (!row->is_array() || row->empty()) {
        reader.issues().error(row_pointer, "expected a non-empty array of per-expert shares");
        continue;
      }
      std::vector<double> values;
      double sum = 0.0;
      for (std::size_t e = 0; e < row->size(); ++e) {
        const auto& v = (*row)[e];
        if (!v.is_number() || v.get<double>() < 0.0) {
          reader.issues().error(pointer_index(row_pointer, e), "expected a number >= 0");
          continue;
        }
        values.push_back(v.get<double>());
        sum += values.back();
      }
      if (!(sum > 0.0)) reader.issues().error(row_pointer, "expected at least one share > 0");
      spec.shares.push_back(std::move(values));
    }
  }
  spec.drift_sigma = reader.optional_number("drift_sigma", Range::NonNegative).value_or(0.0);
  spec.sampled = reader.optional_boolean("sampled").value_or(false);
  spec.micro_batch_sigma = reader.optional_number("micro_batch_sigma", Range::NonNegative).value_or(0.0);
  reader.finish();
  return spec;
}

TrainingWorkload read_training(ObjectReader reader) {
  TrainingWorkload workload;
  workload.seq_len = static_cast<int>(reader.integer("seq_len"));
  workload.micro_batch_size = static_cast<int>(reader.integer("micro_batch_size"));
  workload.global_batch_size = static_cast<int>(reader.integer("global_batch_size"));
  workload.dtype = read_dtype(reader, "dtype", std::nullopt);
  workload.steps = static_cast<int>(reader.optional_integer("steps").value_or(1));
  workload.overlap_param_gather = reader.optional_boolean("overlap_param_gather").value_or(false);
  if (auto load = reader.optional_object("expert_load")) workload.expert_load = read_expert_load(*load);
  if (auto documents = reader.optional_object("documents")) {
    DocumentLengths lengths;
    lengths.mean_tokens = documents->number("mean_tokens");
    lengths.sigma = documents->number("sigma", Range::NonNegative);
    lengths.cp_split_per_document = documents->optional_choice("cp_split", {"sequence", "document"}) == "document";
    documents->finish();
    workload.documents = lengths;
  }
  reader.finish();
  return workload;
}

// With a `serving` block the scheduler forms the steps, so the static step's shape keys are refused.
InferenceWorkload read_inference(ObjectReader reader, bool serving) {
  InferenceWorkload workload;
  if (serving) {
    for (const char* key : {"phase", "batch_size", "input_len", "output_len"}) {
      if (reader.has(key)) {
        reader.issues().error(reader.child(key), "not used with \"serving\" (the scheduler forms the batches)");
      }
      reader.allow(key);
    }
    workload.batch_size = workload.input_len = 1;
  } else {
    workload.phase =
        reader.choice("phase", {"prefill", "decode"}) == "prefill" ? InferencePhase::Prefill : InferencePhase::Decode;
    workload.batch_size = static_cast<int>(reader.integer("batch_size"));
    workload.input_len = static_cast<int>(reader.integer("input_len"));
    workload.output_len = static_cast<int>(reader.optional_integer("output_len").value_or(1));
  }
  workload.weight_dtype = read_dtype(reader, "weight_dtype", std::nullopt);
  workload.activation_dtype = read_dtype(reader, "activation_dtype", std::nullopt);
  workload.kv_dtype = read_dtype(reader, "kv_dtype", workload.activation_dtype);
  if (auto load = reader.optional_object("expert_load")) workload.expert_load = read_expert_load(*load);
  reader.finish();
  return workload;
}

MicrobenchmarkWorkload read_microbenchmark(ObjectReader reader) {
  MicrobenchmarkWorkload workload;
  workload.operation = reader.choice("operation", {"send_recv", "broadcast", "all_reduce", "reduce_scatter",
                                                   "all_gather", "all_to_all", "all_to_all_v"});
  workload.size_bytes = reader.number("size_bytes");
  if (reader.has("ranks")) {
    for (const auto& [element, pointer] : reader.array("ranks", 2)) {
      if (element->is_number_integer() && element->get<long long>() >= 0) {
        workload.ranks.push_back(static_cast<int>(element->get<long long>()));
      } else {
        reader.issues().error(pointer, "expected a rank number >= 0");
      }
    }
    workload.group_size = static_cast<int>(workload.ranks.size());
  } else {
    workload.group_size = static_cast<int>(reader.integer("group_size", Range::AtLeastOne));
    for (int rank = 0; rank < workload.group_size; ++rank) workload.ranks.push_back(rank);
  }
  workload.algorithm =
      reader.optional_choice("algorithm", {"auto", "ring", "direct", "halving_doubling", "hierarchical"})
          .value_or("auto");
  workload.dtype = read_dtype(reader, "dtype", Dtype::BF16);
  workload.iterations = static_cast<int>(reader.optional_integer("iterations").value_or(1));
  reader.finish();
  return workload;
}

std::vector<StrategySpec> read_strategies(ObjectReader& reader) {
  std::vector<StrategySpec> strategies;
  if (!reader.has("strategies")) {
    reader.allow("strategies");
    return strategies;
  }
  for (const auto& [element, pointer] : reader.array("strategies", 0)) {
    ObjectReader entry(*element, pointer, reader.issues());
    StrategySpec spec;
    spec.name = entry.string("name");
    spec.pointer = pointer;
    const json* params = entry.raw("params");
    spec.params = params != nullptr ? *params : json::object();
    if (!spec.params.is_object()) reader.issues().error(entry.child("params"), "expected an object");
    entry.finish();
    strategies.push_back(std::move(spec));
  }
  return strategies;
}

PublishedFigure read_published_figure(ObjectReader entry) {
  PublishedFigure figure;
  figure.metric = entry.string("metric");
  figure.value = entry.number("value");
  figure.source = entry.string("source");
  figure.tolerance_rel = entry.number("tolerance_rel", Range::Fraction);
  figure.role = entry.choice("role", {"fit", "check"});
  entry.finish();
  return figure;
}

// `published`: one figure object, or an array of them (one validate row each).
std::vector<PublishedFigure> read_published(ObjectReader& reader) {
  std::vector<PublishedFigure> figures;
  const json* value = reader.raw("published");
  if (value == nullptr) return figures;
  if (!value->is_array()) {
    figures.push_back(read_published_figure(reader.object("published")));
    return figures;
  }
  for (const auto& [element, pointer] : reader.array("published", 1)) {
    figures.push_back(read_published_figure(ObjectReader(*element, pointer, reader.issues())));
  }
  return figures;
}

}  // namespace

ScenarioConfig load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  IssueCollector issues(path);
  auto document = load_json_file(path, issues);
  issues.throw_if_any();
  apply_overrides(*document, overrides, path);

  ScenarioConfig scenario;
  scenario.file = path;
  scenario.document = *document;
  ObjectReader root(*document, "", issues);
  scenario.name = root.string("name");
  scenario.description = root.optional_string("description").value_or("");
  const std::string type = root.choice("type", {"training", "inference", "microbenchmark"});
  scenario.type = type == "training"    ? ScenarioType::Training
                  : type == "inference" ? ScenarioType::Inference
                                        : ScenarioType::Microbenchmark;
  scenario.seed = static_cast<std::uint64_t>(root.integer("seed", Range::NonNegative));

  std::optional<std::string> model_path;
  if (scenario.type == ScenarioType::Microbenchmark) {
    model_path = root.optional_string("model");
  } else {
    model_path = root.string("model");
  }
  const std::string topology_path = root.string("topology");
  auto ranks = root.optional_integer("ranks");
  if (auto parallel = root.optional_object("parallel")) scenario.parallel = read_parallel(*parallel);
  if (scenario.type == ScenarioType::Training) scenario.training = read_training(root.object("training"));
  if (scenario.type == ScenarioType::Inference) {
    if (root.has("serving")) scenario.serving = read_serving(root.object("serving"), path);
    scenario.inference = read_inference(root.object("inference"), scenario.serving.has_value());
  }
  if (scenario.type == ScenarioType::Microbenchmark) {
    scenario.microbenchmark = read_microbenchmark(root.object("microbenchmark"));
  }
  scenario.strategies = read_strategies(root);
  scenario.published = read_published(root);
  root.finish();

  // Referenced files: their issues carry their own file names.
  if (model_path && !model_path->empty()) {
    try {
      scenario.model = load_model(resolve_relative_path(path, *model_path));
    } catch (const ConfigError& error) {
      issues.merge(error);
    }
  }
  bool topology_ok = false;
  if (!topology_path.empty()) {
    try {
      scenario.topology = load_topology(resolve_relative_path(path, topology_path));
      topology_ok = true;
    } catch (const ConfigError& error) {
      issues.merge(error);
    }
  }
  // Cross-field checks read the parsed values: after a parse error those hold placeholders (a 0 micro-batch size
  // would divide by zero), so the file's own errors are reported alone.
  if (topology_ok && issues.empty()) {
    scenario.ranks = ranks ? static_cast<int>(*ranks) : scenario.topology.total_ranks();
    validate_scenario(scenario, issues);
  }
  issues.throw_if_any();
  return scenario;
}

}  // namespace moesim::config

#pragma once
// A scenario: what to simulate (training step, inference, or a collective/operator microbenchmark), on
// which model and topology, with which parallel layout and strategies. Schema: docs/schema-scenario.md.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/common_types.hpp"
#include "config/model_config.hpp"
#include "config/serving_config.hpp"
#include "config/topology_config.hpp"

namespace moesim::config {

enum class ScenarioType { Training, Inference, Microbenchmark };
std::string to_string(ScenarioType type);

struct ParallelLayout {
  int tp = 1;                 // tensor parallel
  int pp = 1;                 // pipeline stages
  int vpp = 1;                // virtual stages per pipeline stage (interleaved 1F1B)
  int cp = 1;                 // context parallel
  int dp = 1;                 // data parallel (attention DP for inference)
  int ep = 1;                 // expert parallel (carved from DP x CP x TP)
  int expert_tp = 1;          // tensor parallel inside each expert
  bool tp_extend_ep = false;  // experts also sharded over the TP ranks: expert-parallel size = ep x tp
  bool sequence_parallel = false;
  int padding_layers = 0;  // no-op layers added so that pipeline slots divide evenly
  // Transformer layers of each virtual stage (index chunk x pp + stage), in order; empty = equal cut of the slots.
  // The MTP modules join the last virtual stage. Exclusive with padding_layers.
  std::vector<int> layers_per_virtual_stage;
  int ranks() const { return tp * pp * cp * dp; }
  int expert_parallel_size() const { return tp_extend_ep ? ep * tp : ep; }
};

// How a training step's token-expert assignments spread over the routed experts (docs/training.md, "Expert load").
// Uniform: every expert gets tokens x top_k / experts (the expected load of a balanced router). Zipf: in each MoE
// layer, the expert of popularity rank r gets a share proportional to r^-exponent, the ranks a seeded permutation
// per layer. Shares: given per expert, one row for every MoE layer or one row per MoE layer.
enum class ExpertLoadDistribution { Uniform, Zipf, Shares };
struct ExpertLoadSpec {
  ExpertLoadDistribution distribution = ExpertLoadDistribution::Uniform;
  double exponent = 0.0;                    // zipf
  std::vector<std::vector<double>> shares;  // shares: rows of num_routed_experts non-negative numbers
  // > 0: the shares drift from step to step (several steps), a seeded log-normal random walk per expert with this
  // standard deviation per step (model/expert_load)
  double drift_sigma = 0.0;
  // Each MoE layer's rows are a seeded multinomial draw from the shares above, so a balanced router still leaves a
  // finite batch unevenly spread (model/expert_load): inference, of the step's routed rows (batch tokens x top_k);
  // training, of each micro-batch's rows in an EP group (its own draw per micro-batch)
  bool sampled = false;
  // Training, > 0: each micro-batch's shares differ from the step's by a seeded log-normal factor per expert with
  // this log-space standard deviation (content varies from micro-batch to micro-batch; model/expert_load)
  double micro_batch_sigma = 0.0;
};

// training.documents: the documents packed into the step's sequences, with document-masked (varlen) attention, so
// a sequence's attention work is the sum of its documents' squared lengths. Lengths are log-normal with this mean
// (in tokens) and log-space sigma, drawn with the scenario seed. Absent: every sequence is one document.
struct DocumentLengths {
  double mean_tokens = 0.0;
  double sigma = 0.0;
  // How context parallelism cuts a packed sequence into its 2 x cp load-balance chunks: the whole sequence (the
  // packed sequence with a document mask, Megatron's BSHD + reset attention mask) or every document on its own
  // (Megatron / Transformer Engine's THD packed format: thd_get_partitioned_indices)
  bool cp_split_per_document = false;
};

struct TrainingWorkload {
  int seq_len = 0;
  int micro_batch_size = 0;   // sequences per micro-batch per DP rank
  int global_batch_size = 0;  // sequences per step
  Dtype dtype = Dtype::BF16;
  int steps = 1;
  // steps > 1: each virtual stage's next-step forwards wait only for its own parameter AllGathers (Megatron
  // --overlap-param-gather), not for every one of the stage
  bool overlap_param_gather = false;
  ExpertLoadSpec expert_load;
  std::optional<DocumentLengths> documents;
};

enum class InferencePhase { Prefill, Decode };
struct InferenceWorkload {
  InferencePhase phase = InferencePhase::Decode;
  int batch_size = 0;  // sequences in the step
  int input_len = 0;   // prompt tokens (decode: KV length at the measured step)
  int output_len = 0;  // generated tokens per request (decode)
  Dtype weight_dtype = Dtype::BF16;
  Dtype activation_dtype = Dtype::BF16;
  Dtype kv_dtype = Dtype::BF16;
  ExpertLoadSpec expert_load;  // routing skew over the routed experts (no drift: one step's pattern)
};

struct MicrobenchmarkWorkload {
  std::string operation;  // a collective kind name as in model::to_string ("all_reduce", "all_to_all", ...)
  double size_bytes = 0;  // nccl-tests convention (see model/op_graph.hpp)
  int group_size = 0;     // ranks 0..group_size-1 (or `ranks` when given)
  std::vector<int> ranks;
  std::string algorithm = "auto";
  Dtype dtype = Dtype::BF16;
  int iterations = 1;
};

struct StrategySpec {
  std::string name;
  nlohmann::json params;  // checked by the strategy itself
  std::string pointer;    // where it sits in the scenario file, for error messages
};

struct PublishedFigure {
  std::string metric;  // name as in summary.json "metrics"
  double value = 0;
  std::string source;
  double tolerance_rel = 0;
  // "fit": a factor of the hardware file was calibrated on this figure, so agreement shows the fit holds, not
  // predictive accuracy; "check": no factor was set from it (an independent comparison).
  std::string role;
};

struct ScenarioConfig {
  std::string file;
  std::string name;
  std::string description;
  ScenarioType type = ScenarioType::Inference;
  std::optional<ModelConfig> model;  // absent only for microbenchmarks
  TopologyConfig topology;           // with `nodes` reduced to what the scenario uses
  int ranks = 0;                     // ranks (NPUs; a 910C die counts as one) the scenario uses
  ParallelLayout parallel;
  std::optional<TrainingWorkload> training;
  std::optional<InferenceWorkload> inference;
  std::optional<ServingConfig> serving;  // inference only: request-level serving instead of one static step
  std::optional<MicrobenchmarkWorkload> microbenchmark;
  std::vector<StrategySpec> strategies;
  std::uint64_t seed = 0;
  std::vector<PublishedFigure> published;  // `published`: one object or an array of them; empty when absent
  nlohmann::json document;                 // the scenario JSON after --set overrides
};

// Applies `path=value` overrides (dotted path, array indices allowed; value parsed as JSON, else a string).
// Throws ConfigError naming the override on a bad path.
void apply_overrides(nlohmann::json& document, const std::vector<std::string>& overrides, const std::string& file);

// Reads a scenario and everything it references, validates the layout against model and topology;
// throws ConfigError listing every issue (each naming its file).
ScenarioConfig load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

// Gradient-accumulation micro-batches per DP rank: global_batch / (dp * micro_batch).
int micro_batches_per_step(const ScenarioConfig& scenario);

// A compact JSON view of what the scenario resolved to (for `check`, and summary.json).
nlohmann::json resolved_json(const ScenarioConfig& scenario);

}  // namespace moesim::config

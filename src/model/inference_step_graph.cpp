#include "model/inference_step_graph.hpp"

#include <cmath>
#include <stdexcept>

#include "model/inference_step_emitter.hpp"
#include "model/inference_step_shape.hpp"

namespace moesim::model {

namespace detail {

StepDtypes step_dtypes(const config::InferenceWorkload& w) {
  StepDtypes d;
  d.gemm = w.weight_dtype == Dtype::INT8 && w.activation_dtype == Dtype::INT8 ? Dtype::INT8 : w.activation_dtype;
  d.weight_bytes = config::bytes_per_element(w.weight_dtype);
  d.comm = w.activation_dtype == Dtype::INT8 ? Dtype::FP16 : w.activation_dtype;
  d.act_bytes = config::bytes_per_element(d.comm);
  d.kv_bytes = config::bytes_per_element(w.kv_dtype);
  return d;
}

StepShape step_shape(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan, double queries_per_seq) {
  const auto& w = *scenario.inference;
  StepShape s;
  s.decode = w.phase == config::InferencePhase::Decode;
  s.scatter_gather = plan.comm != InferenceComm::TpAllReduce;
  s.dp = scenario.parallel.dp;
  s.tp = scenario.parallel.tp;
  s.ranks = s.dp * s.tp;
  s.queries_per_seq = s.decode ? queries_per_seq : 1.0;
  s.seqs = std::ceil(double(w.batch_size) / s.dp);  // the busiest group; the others are padded to it
  const double per_seq = s.decode ? s.queries_per_seq : double(w.input_len);
  s.tokens = s.seqs * per_seq;
  s.kv_len = w.input_len;
  s.context = s.decode ? w.input_len : w.input_len / 2.0;
  s.attn_tokens = s.scatter_gather ? padded_tokens(s.tokens, s.tp) : s.tokens;
  s.shard = s.scatter_gather ? s.attn_tokens / s.tp : s.attn_tokens;
  s.moe_tokens = s.scatter_gather ? s.attn_tokens * s.dp : s.attn_tokens;
  s.real_moe_tokens = s.scatter_gather ? per_seq * w.batch_size : s.tokens;
  return s;
}

StepShape mixed_step_shape(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan,
                           const MixedStepBatch& batch) {
  StepShape s;
  s.decode = true;
  s.scatter_gather = plan.comm != InferenceComm::TpAllReduce;
  s.dp = scenario.parallel.dp;
  s.tp = scenario.parallel.tp;
  s.ranks = s.dp * s.tp;
  s.queries_per_seq = 1.0;
  s.seqs = std::ceil(double(batch.decode_seqs) / s.dp);
  double chunk_tokens = 0, work = 0, cached = 0;
  for (const auto& chunk : batch.chunks) {
    chunk_tokens += chunk.tokens;
    work += chunk.tokens * (chunk.offset + chunk.tokens / 2.0);
    cached += chunk.offset;
  }
  s.chunk_tokens = chunk_tokens / s.dp;
  s.chunk_work = work / s.dp;
  s.chunk_cached = cached / s.dp;
  s.chunk_seqs = double(batch.chunks.size()) / s.dp;
  s.tokens = s.seqs + s.chunk_tokens;
  s.kv_len = batch.decode_kv_len;
  s.context = batch.decode_kv_len;
  s.attn_tokens = s.scatter_gather ? padded_tokens(s.tokens, s.tp) : s.tokens;
  s.shard = s.scatter_gather ? s.attn_tokens / s.tp : s.attn_tokens;
  s.moe_tokens = s.scatter_gather ? s.attn_tokens * s.dp : s.attn_tokens;
  s.real_moe_tokens = s.scatter_gather ? batch.decode_seqs + chunk_tokens : s.tokens;
  return s;
}

}  // namespace detail

namespace {

void check_layout(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan) {
  const auto& p = scenario.parallel;
  const auto& model = *scenario.model;
  const std::string where = scenario.file + ": /parallel";
  if (p.pp > 1 || p.cp > 1) {
    throw std::invalid_argument(where +
                                ": the static inference step covers tp and attention dp (with the h2p "
                                "strategy) only; pipeline and context parallel serving are not modelled");
  }
  for (OpClass op_class : {plan.attention_class, plan.grouped_matmul_class}) {
    const bool fused = op_class != OpClass::Attention && op_class != OpClass::GroupedMatmul;
    if (fused && !scenario.topology.device.has_efficiency(op_class)) {
      throw std::invalid_argument(scenario.topology.file + ": /device/efficiency/" + config::to_string(op_class) +
                                  ": the fused-operator cost model needs this operator class's efficiencies");
    }
  }
  if (plan.duo_stream_chunks > 1 && plan.comm == InferenceComm::TpAllReduce) {
    throw std::invalid_argument(scenario.file +
                                ": duo_stream chunks the AllGather / ReduceScatter around the experts; it needs "
                                "the flashcomm or h2p layout (the TP AllReduce layout has neither)");
  }
  if (plan.comm != InferenceComm::H2P) {
    if (p.dp > 1) {
      throw std::invalid_argument(where + "/dp: attention data parallel (dp " + std::to_string(p.dp) +
                                  ") needs an inference strategy that lays it out, e.g. h2p (serving strategies)");
    }
    if (model.moe && p.ep * p.expert_tp != p.tp) {
      throw std::invalid_argument(where + "/ep: the static inference step needs ep x expert_tp = tp (" +
                                  std::to_string(p.tp) + ")");
    }
    return;
  }
  const int ranks = p.tp * p.dp;
  if (model.moe && p.ep * p.expert_tp != ranks) {
    throw std::invalid_argument(where + "/ep: h2p spreads the routed experts over every rank: ep x expert_tp must be " +
                                std::to_string(ranks) + " (tp x dp), got " + std::to_string(p.ep * p.expert_tp));
  }
  const int shared = plan.shared_expert_tp == 0 ? ranks : plan.shared_expert_tp;
  if (shared <= 0 || ranks % shared != 0) {
    throw std::invalid_argument(scenario.file + ": h2p shared_expert_tp " + std::to_string(shared) +
                                " must divide the instance's " + std::to_string(ranks) + " ranks");
  }
}

}  // namespace

double padded_tokens(double tokens, int group) {
  return std::ceil(tokens / group) * group;
}

double expected_touched_experts(double local_experts, double tokens, double p_per_expert) {
  return local_experts * (1.0 - std::pow(1.0 - p_per_expert, tokens));
}

OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan) {
  check_layout(scenario, plan);
  OpGraph graph = detail::StepEmitter(scenario, plan).build();
  graph.num_ranks = scenario.ranks;
  return graph;
}

OpGraph build_mixed_inference_step_graph(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan,
                                         const MixedStepBatch& batch) {
  check_layout(scenario, plan);
  if (plan.mtp_draft_tokens > 0) {
    throw std::invalid_argument(scenario.file +
                                ": a mixed (chunked-prefill) step with MTP speculative decoding is not "
                                "modelled");
  }
  double chunk_tokens = 0;
  for (const auto& chunk : batch.chunks) chunk_tokens += chunk.tokens;
  if (batch.decode_seqs <= 0 && chunk_tokens <= 0) {
    throw std::invalid_argument(scenario.file + ": a mixed step needs decode sequences or prefill chunk tokens");
  }
  OpGraph graph = detail::StepEmitter(scenario, plan, detail::mixed_step_shape(scenario, plan, batch)).build();
  graph.num_ranks = scenario.ranks;
  return graph;
}

OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario) {
  return build_inference_step_graph(scenario, InferenceStepPlan{});
}

}  // namespace moesim::model

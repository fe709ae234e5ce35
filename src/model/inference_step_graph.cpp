#include "model/inference_step_graph.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "model/inference_step_builder.hpp"
#include "model/model_stats.hpp"

namespace moesim::model {

using config::Dtype;
using config::OpClass;
using detail::matmul_cost;
using detail::StepBuilder;
using detail::StepDtypes;
using detail::vector_cost;

namespace {

// Token counts of the step, per rank, at each point of a layer.
struct StepShape {
  bool decode = true;
  bool h2p = false;
  int ranks = 1, dp = 1, tp = 1;
  double seqs = 0;             // sequences per attention (DP) group (the busiest one)
  double tokens = 0;           // real tokens per attention group
  double attn_tokens = 0;      // tokens through the attention projections (H2P: padded to a multiple of tp)
  double shard = 0;            // tokens a rank holds between collectives (H2P: attn_tokens / tp; TP: attn_tokens)
  double moe_tokens = 0;       // tokens every rank's experts see (H2P: all groups' padded tokens; TP: attn_tokens)
  double real_moe_tokens = 0;  // the real (unpadded) ones: padding rows are zeros and route like one token
  double context = 0;          // mean keys each query attends to
  double kv_len = 0;           // decode: KV length read per sequence
};

StepDtypes step_dtypes(const config::InferenceWorkload& w) {
  StepDtypes d;
  d.gemm = w.weight_dtype == Dtype::INT8 && w.activation_dtype == Dtype::INT8 ? Dtype::INT8 : w.activation_dtype;
  d.weight_bytes = config::bytes_per_element(w.weight_dtype);
  d.comm = w.activation_dtype == Dtype::INT8 ? Dtype::FP16 : w.activation_dtype;
  d.act_bytes = config::bytes_per_element(d.comm);
  d.kv_bytes = config::bytes_per_element(w.kv_dtype);
  return d;
}

void check_layout(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan) {
  const auto& p = scenario.parallel;
  const auto& model = *scenario.model;
  const std::string where = scenario.file + ": /parallel";
  if (p.pp > 1 || p.cp > 1) {
    throw std::invalid_argument(where +
                                ": the static inference step covers tp and attention dp (with the h2p "
                                "strategy) only; pipeline and context parallel serving are not modelled");
  }
  if (plan.comm == InferenceComm::TpAllReduce) {
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

StepShape step_shape(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan) {
  const auto& w = *scenario.inference;
  StepShape s;
  s.decode = w.phase == config::InferencePhase::Decode;
  s.h2p = plan.comm == InferenceComm::H2P;
  s.dp = scenario.parallel.dp;
  s.tp = scenario.parallel.tp;
  s.ranks = s.dp * s.tp;
  s.seqs = std::ceil(double(w.batch_size) / s.dp);  // the busiest group; the others are padded to it
  s.tokens = s.decode ? s.seqs : s.seqs * w.input_len;
  s.kv_len = w.input_len;
  s.context = s.decode ? w.input_len : w.input_len / 2.0;
  s.attn_tokens = s.h2p ? padded_tokens(s.tokens, s.tp) : s.tokens;
  s.shard = s.h2p ? s.attn_tokens / s.tp : s.attn_tokens;
  s.moe_tokens = s.h2p ? s.attn_tokens * s.dp : s.attn_tokens;
  s.real_moe_tokens = s.h2p ? (s.decode ? 1.0 : double(w.input_len)) * w.batch_size : s.tokens;
  return s;
}

std::vector<int> rank_range(int first, int count) {
  std::vector<int> ranks(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) ranks[static_cast<std::size_t>(i)] = first + i;
  return ranks;
}

class LayerEmitter {
 public:
  LayerEmitter(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan)
      : model_(*scenario.model),
        p_(scenario.parallel),
        plan_(plan),
        s_(step_shape(scenario, plan)),
        d_(step_dtypes(*scenario.inference)),
        b_(s_.ranks) {}

  OpGraph build() {
    for (int r = 0; r < s_.ranks; ++r)
      b_.compute(r, "embedding", "embedding", vector_cost(d_, s_.shard, model_.hidden));
    for (int layer = 0; layer < model_.num_layers; ++layer) emit_layer(layer);
    emit_head();
    return b_.take();
  }

 private:
  // One collective per attention (DP) group over its tp ranks; nothing when tp is 1.
  void tp_collective(const std::string& name, CollectiveKind kind, double elements) {
    if (s_.tp == 1) return;
    for (int g = 0; g < s_.dp; ++g) b_.collective(name, "tp_comm", make(kind, rank_range(g * s_.tp, s_.tp), elements));
  }
  void global_collective(const std::string& name, CollectiveKind kind, double elements) {
    if (s_.ranks == 1) return;
    b_.collective(name, "ep_comm", make(kind, rank_range(0, s_.ranks), elements));
  }
  Collective make(CollectiveKind kind, std::vector<int> ranks, double elements) const {
    Collective c;
    c.kind = kind;
    c.ranks = std::move(ranks);
    c.dtype = d_.comm;
    c.elements = elements;
    return c;
  }

  void emit_layer(int layer) {
    const std::string L = "L" + std::to_string(layer) + ".";
    const double gathered = s_.attn_tokens * model_.hidden;  // one attention group's activations
    const bool norm_on_shard = s_.h2p && plan_.allgather_after_norm;
    if (norm_on_shard) {
      for (int r = 0; r < s_.ranks; ++r)
        b_.compute(r, L + "attn_norm", "attention", vector_cost(d_, s_.shard, model_.hidden));
    }
    if (s_.h2p) tp_collective(L + "attn_allgather", CollectiveKind::AllGather, gathered);
    for (int r = 0; r < s_.ranks; ++r) {
      if (!norm_on_shard) b_.compute(r, L + "attn_norm", "attention", vector_cost(d_, s_.attn_tokens, model_.hidden));
      emit_attention(r, L);
    }
    if (s_.h2p) {
      tp_collective(L + "attn_reducescatter", CollectiveKind::ReduceScatter, gathered);
    } else {
      tp_collective(L + "attn_allreduce", CollectiveKind::AllReduce, gathered);
    }
    const bool moe = is_moe_layer(model_, layer);
    for (int r = 0; r < s_.ranks; ++r) b_.compute(r, L + "ffn_norm", "ffn", vector_cost(d_, s_.shard, model_.hidden));
    const double moe_elements = s_.moe_tokens * model_.hidden;
    if (s_.h2p)
      global_collective(L + (moe ? "moe_allgather" : "ffn_allgather"), CollectiveKind::AllGather, moe_elements);
    for (int r = 0; r < s_.ranks; ++r) {
      if (moe) {
        emit_moe(r, L);
      } else {
        const int shards = s_.h2p ? s_.ranks : s_.tp;
        b_.compute(r, L + "dense_ffn", "ffn",
                   matmul_cost(d_, s_.moe_tokens, dense_ffn_params(model_) / shards, model_.hidden,
                               2.0 * model_.dense_intermediate / shards));
      }
    }
    const std::string ffn = moe ? "moe_" : "ffn_";
    if (s_.h2p) {
      global_collective(L + ffn + "reducescatter", CollectiveKind::ReduceScatter, moe_elements);
    } else {
      tp_collective(L + ffn + "allreduce", CollectiveKind::AllReduce, moe_elements);
    }
  }

  void emit_attention(int r, const std::string& L) {
    const int tp = s_.tp;
    const auto attention = attention_matmuls(model_);
    for (const auto& m : attention) {
      if (m.name == "o_proj") continue;
      b_.compute(r, L + m.name, "attention",
                 matmul_cost(d_, s_.attn_tokens, m.params() / tp, m.in_features, m.out_features / tp));
    }
    const double kv_elems = kv_elements_per_token_per_layer(model_);
    const bool mla = model_.attention.kind == config::AttentionKind::MLA;
    const double kv_share = mla ? 1.0 : std::max(1.0 / tp, 1.0 / model_.attention.num_kv_heads);
    ComputeCost core;
    core.op_class = OpClass::Attention;
    core.dtype = Dtype::FP16;
    core.flops = s_.tokens * attention_core_flops(model_, s_.context) / tp;
    core.bytes = s_.decode
                     ? s_.seqs * s_.kv_len * kv_elems * kv_share * d_.kv_bytes
                     : s_.tokens * (kv_elems * kv_share + 2.0 * model_.attention.num_heads / tp * v_head_dim(model_)) *
                           d_.act_bytes;
    b_.compute(r, L + "attn_core", "attention", core);
    const auto& o = attention.back();
    b_.compute(r, L + "o_proj", "attention",
               matmul_cost(d_, s_.attn_tokens, o.params() / tp, o.in_features / tp, o.out_features));
  }

  void emit_moe(int r, const std::string& L) {
    const auto& m = *model_.moe;
    const double tokens = s_.moe_tokens;
    const auto router = router_matmul(model_);
    b_.compute(r, L + "router", "moe",
               matmul_cost(d_, tokens, router.params(), router.in_features, router.out_features));
    const double local_experts = double(m.num_routed_experts) / p_.ep;
    const double p_expert = double(m.top_k) / m.num_routed_experts;
    const double assignments = tokens * m.top_k / p_.ep;  // expected token->expert pairs on this rank
    const double touched = expected_touched_experts(local_experts, s_.real_moe_tokens, p_expert);
    const double expert_local = expert_params(model_) / p_.expert_tp;
    ComputeCost gmm{OpClass::GroupedMatmul, d_.gemm, 2.0 * assignments * expert_local,
                    touched * expert_local * d_.weight_bytes + assignments * 2.0 * model_.hidden * d_.act_bytes};
    b_.compute(r, L + "routed_experts", "moe", gmm);
    if (m.num_shared_experts == 0) return;
    // TP: each rank holds 1/tp of the shared experts for every token. H2P: shared-expert TP groups of
    // `shared` ranks each serve 1/(ranks/shared) of the gathered tokens.
    const int shared = !s_.h2p ? s_.tp : (plan_.shared_expert_tp == 0 ? s_.ranks : plan_.shared_expert_tp);
    const double shared_tokens = s_.h2p ? tokens * shared / s_.ranks : tokens;
    const double params = m.num_shared_experts * shared_expert_params(model_) / shared;
    b_.compute(r, L + "shared_experts", "moe",
               matmul_cost(d_, shared_tokens, params, model_.hidden, 2.0 * m.shared_expert_intermediate / shared));
  }

  // Final norm and LM head for the last position of each sequence, vocabulary split over each group's tp ranks.
  void emit_head() {
    const double seqs = s_.h2p ? padded_tokens(s_.seqs, s_.tp) : s_.seqs;
    const double norm_tokens = s_.h2p ? seqs / s_.tp : seqs;
    for (int r = 0; r < s_.ranks; ++r) b_.compute(r, "final_norm", "head", vector_cost(d_, norm_tokens, model_.hidden));
    if (s_.h2p) tp_collective("head_allgather", CollectiveKind::AllGather, seqs * model_.hidden);
    for (int r = 0; r < s_.ranks; ++r) {
      b_.compute(r, "lm_head", "head",
                 matmul_cost(d_, seqs, double(model_.hidden) * model_.vocab / s_.tp, model_.hidden,
                             double(model_.vocab) / s_.tp));
    }
    tp_collective("logits_allgather", CollectiveKind::AllGather, seqs * model_.vocab);
  }

  const config::ModelConfig& model_;
  const config::ParallelLayout& p_;
  InferenceStepPlan plan_;
  StepShape s_;
  StepDtypes d_;
  StepBuilder b_;
};

}  // namespace

double padded_tokens(double tokens, int group) {
  return std::ceil(tokens / group) * group;
}

double expected_touched_experts(double local_experts, double tokens, double p_per_expert) {
  return local_experts * (1.0 - std::pow(1.0 - p_per_expert, tokens));
}

OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan) {
  check_layout(scenario, plan);
  OpGraph graph = LayerEmitter(scenario, plan).build();
  graph.num_ranks = scenario.ranks;
  return graph;
}

OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario) {
  return build_inference_step_graph(scenario, InferenceStepPlan{});
}

}  // namespace moesim::model

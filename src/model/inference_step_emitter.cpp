#include "model/inference_step_emitter.hpp"

#include <algorithm>

#include "model/model_stats.hpp"

namespace moesim::model::detail {

using config::AttentionKind;

namespace {

HostCosts host_costs(const config::ScenarioConfig& scenario) {
  HostCosts host;
  if (const auto& runtime = scenario.topology.host_runtime) {
    host.op_dispatch_s = runtime->op_dispatch_s.value;
    host.collective_dispatch_s = runtime->collective_dispatch_s.value;
    host.step_overhead_s = runtime->step_overhead_s.value;
  }
  return host;
}

}  // namespace

StepEmitter::StepEmitter(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan)
    : scenario_(scenario),
      model_(*scenario.model),
      p_(scenario.parallel),
      plan_(plan),
      d_(step_dtypes(*scenario.inference)),
      b_(scenario.parallel.tp * scenario.parallel.dp, host_costs(scenario)),
      load_(model_.moe ? expert_load(scenario, plan.expert_placement, 0, plan.redundant_experts_per_rank)
                       : ExpertLoad{}) {}

StepEmitter::StepEmitter(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan, const StepShape& shape)
    : StepEmitter(scenario, plan) {
  main_shape_ = shape;
}

OpGraph StepEmitter::build() {
  const bool decode = scenario_.inference->phase == config::InferencePhase::Decode;
  if (plan_.speculative_overhead_s > 0) b_.host_delay("speculative_overhead", plan_.speculative_overhead_s);
  const double verify = decode ? 1.0 + plan_.mtp_draft_tokens : 1.0;
  const Pass main{main_shape_ ? *main_shape_ : step_shape(scenario_, plan_, verify), "", ""};
  for (int r = 0; r < main.shape.ranks; ++r) {
    b_.compute(r, "embedding", "embedding", vector_cost(d_, main.shape.shard, model_.hidden));
  }
  for (int layer = 0; layer < model_.num_layers; ++layer) {
    emit_layer(main, "L" + std::to_string(layer) + ".", is_moe_layer(model_, layer), layer);
  }
  emit_head(main);
  if (plan_.mtp_draft_tokens > 0) {
    // Draft pass 0 runs over the verified positions (decode) or the prompt (prefill); the others over one token.
    const int passes = decode ? plan_.mtp_draft_tokens : 1;
    for (int i = 0; i < passes; ++i) {
      const double queries = i == 0 ? verify : 1.0;
      emit_mtp_pass({step_shape(scenario_, plan_, queries), "mtp" + std::to_string(i) + ".", "mtp_draft"});
    }
  }
  return b_.take();
}

std::string StepEmitter::phase_of(const Pass& pass, const std::string& own) const {
  return pass.phase.empty() ? own : pass.phase;
}

Dtype StepEmitter::allgather_dtype() const {
  return plan_.int8_allgather && d_.gemm == Dtype::INT8 ? Dtype::INT8 : d_.comm;
}

std::vector<OpId> StepEmitter::collective(const std::string& name, const std::string& phase, CollectiveKind kind,
                                          const std::vector<int>& ranks, double elements, Dtype dtype, bool async,
                                          bool dispatched, const std::vector<double>& per_pair) {
  std::vector<OpId> last(static_cast<std::size_t>(b_.ranks()), -1);
  auto emit = [&](const std::string& stage, CollectiveKind k, const std::vector<int>& group, double n,
                  bool dispatched) {
    Collective c;
    c.kind = k;
    c.ranks = group;
    c.dtype = dtype;
    c.elements = n;
    if (k == CollectiveKind::AllToAllV) c.per_pair_elements = per_pair;
    c.algorithm = plan_.tier_algorithm;
    const auto ops = b_.collective(name + stage, phase, std::move(c), {async, dispatched});
    for (std::size_t i = 0; i < group.size(); ++i) last[static_cast<std::size_t>(group[i])] = ops[i];
  };
  const int t = plan_.tier_ranks;
  const int n = static_cast<int>(ranks.size());
  const bool tiered = t > 0 && n > t && n % t == 0 && ranks.front() % t == 0 &&
                      ranks.back() == ranks.front() + n - 1;  // contiguous groups made of whole tiers
  if (!tiered) {
    emit("", kind, ranks, elements, dispatched);
    return last;
  }
  const int tiers = n / t;
  auto intra = [&](const std::string& stage, CollectiveKind k, double e, bool dispatched) {
    for (int g = 0; g < tiers; ++g) emit(stage, k, rank_range(ranks.front() + g * t, t), e, dispatched);
  };
  auto inter = [&](const std::string& stage, CollectiveKind k, double e, bool dispatched) {
    for (int l = 0; l < t; ++l) {
      std::vector<int> peers;
      for (int g = 0; g < tiers; ++g) peers.push_back(ranks.front() + g * t + l);
      emit(stage, k, peers, e, dispatched);
    }
  };
  // One host launch per rank for the whole tiered collective: the first stage of every rank is dispatched.
  switch (kind) {
    case CollectiveKind::AllGather:  // peers exchange their shards, then each tier gathers everything
      inter(".inter", kind, elements / t, dispatched);
      intra(".intra", kind, elements, false);
      break;
    case CollectiveKind::ReduceScatter:  // each tier reduces to 1/t, then peers reduce their 1/t among tiers
      intra(".intra", kind, elements, dispatched);
      inter(".inter", kind, elements / t, false);
      break;
    case CollectiveKind::AllReduce:
      intra(".intra_rs", CollectiveKind::ReduceScatter, elements, dispatched);
      inter(".inter", CollectiveKind::AllReduce, elements / t, false);
      intra(".intra_ag", CollectiveKind::AllGather, elements, false);
      break;
    default:
      emit("", kind, ranks, elements, dispatched);
  }
  return last;
}

void StepEmitter::tp_collective(const Pass& pass, const std::string& name, CollectiveKind kind, double elements,
                                Dtype dtype) {
  const auto& s = pass.shape;
  if (s.tp == 1) return;
  for (int g = 0; g < s.dp; ++g) {
    collective(name, phase_of(pass, "tp_comm"), kind, rank_range(g * s.tp, s.tp), elements, dtype, false);
  }
}

std::vector<OpId> StepEmitter::global_collective(const Pass& pass, const std::string& name, CollectiveKind kind,
                                                 double elements, Dtype dtype, bool async, bool dispatched,
                                                 const std::vector<double>& per_pair) {
  if (pass.shape.ranks == 1) return std::vector<OpId>(1, -1);
  return collective(name, phase_of(pass, "ep_comm"), kind, rank_range(0, pass.shape.ranks), elements, dtype, async,
                    dispatched, per_pair);
}

void StepEmitter::emit_layer(const Pass& pass, const std::string& L, bool moe, int layer) {
  const auto& s = pass.shape;
  const std::string name = pass.prefix + L;
  const double gathered = s.attn_tokens * model_.hidden;  // one attention group's activations
  const bool norm_on_shard = s.scatter_gather && plan_.allgather_after_norm;
  if (norm_on_shard) {
    for (int r = 0; r < s.ranks; ++r) {
      b_.compute(r, name + "attn_norm", phase_of(pass, "attention"), vector_cost(d_, s.shard, model_.hidden));
    }
    tp_collective(pass, name + "attn_allgather", CollectiveKind::AllGather, gathered, allgather_dtype());
  } else if (s.scatter_gather) {
    tp_collective(pass, name + "attn_allgather", CollectiveKind::AllGather, gathered, d_.comm);
  }
  for (int r = 0; r < s.ranks; ++r) {
    if (!norm_on_shard) {
      b_.compute(r, name + "attn_norm", phase_of(pass, "attention"), vector_cost(d_, s.attn_tokens, model_.hidden));
    }
    emit_attention(r, pass, name);
  }
  tp_collective(pass, name + (s.scatter_gather ? "attn_reducescatter" : "attn_allreduce"),
                s.scatter_gather ? CollectiveKind::ReduceScatter : CollectiveKind::AllReduce, gathered, d_.comm);
  for (int r = 0; r < s.ranks; ++r) {
    b_.compute(r, name + "ffn_norm", phase_of(pass, "ffn"), vector_cost(d_, s.shard, model_.hidden));
  }
  if (moe) {
    emit_expert_block(pass, name, layer);
    return;
  }
  const double elements = s.moe_tokens * model_.hidden;
  if (s.scatter_gather)
    global_collective(pass, name + "ffn_allgather", CollectiveKind::AllGather, elements, allgather_dtype());
  for (int r = 0; r < s.ranks; ++r) emit_dense_ffn(r, pass, name);
  if (s.scatter_gather) {
    global_collective(pass, name + "ffn_reducescatter", CollectiveKind::ReduceScatter, elements, d_.comm);
  } else {
    tp_collective(pass, name + "ffn_allreduce", CollectiveKind::AllReduce, elements, d_.comm);
  }
}

void StepEmitter::emit_attention(int r, const Pass& pass, const std::string& L) {
  const auto& s = pass.shape;
  const int tp = s.tp;
  const std::string phase = phase_of(pass, "attention");
  const auto attention = attention_matmuls(model_);
  const auto& a = model_.attention;
  if (a.kind == AttentionKind::MLA) {  // sequential low-rank projections: one op each
    for (const auto& m : attention) {
      if (m.name == "o_proj") continue;
      b_.compute(r, L + m.name, phase,
                 matmul_cost(d_, s.attn_tokens, m.params() / tp, m.in_features, m.out_features / tp));
    }
  } else {  // q, k and v share their input: one fused qkv projection
    double params = 0, out = 0;
    for (const auto& m : attention) {
      if (m.name == "o_proj") continue;
      params += m.params() / tp;
      out += m.out_features / tp;
    }
    b_.compute(r, L + "qkv_proj", phase, matmul_cost(d_, s.attn_tokens, params, model_.hidden, out));
  }
  const double kv_heads_local = a.kind == AttentionKind::MLA ? 1.0 : std::max(1.0, double(a.num_kv_heads) / tp);
  b_.compute(r, L + "rope", phase,
             vector_cost(d_, s.attn_tokens, (double(a.num_heads) / tp + kv_heads_local) * qk_head_dim(model_)));
  const double kv_elems = kv_elements_per_token_per_layer(model_);
  const bool mla = a.kind == AttentionKind::MLA;
  const double kv_share = mla ? 1.0 : std::max(1.0 / tp, 1.0 / a.num_kv_heads);
  ComputeCost core;
  core.op_class = plan_.attention_class;
  core.dtype = Dtype::FP16;
  const double core_tokens = s.tokens - s.chunk_tokens;  // a mixed step's chunks have their own kernel, below
  core.flops = core_tokens * attention_core_flops(model_, s.context) / tp;
  // Decode reads each sequence's KV cache once for all its query tokens; prefill reads and writes activations.
  const double out_per_token = 2.0 * a.num_heads / tp * v_head_dim(model_);
  core.bytes = s.decode
                   ? s.seqs * s.kv_len * kv_elems * kv_share * d_.kv_bytes + core_tokens * out_per_token * d_.act_bytes
                   : s.tokens * (kv_elems * kv_share + out_per_token) * d_.act_bytes;
  if (core_tokens > 0) b_.compute(r, L + "attn_core", phase, core);
  if (s.chunk_tokens > 0) {  // prefill chunks of a mixed step: causal FLOPs, plus the cached KV they attend to
    ComputeCost chunk = core;
    chunk.flops = s.chunk_work * attention_core_flops(model_, 1.0) / tp;
    chunk.bytes = s.chunk_tokens * (kv_elems * kv_share + out_per_token) * d_.act_bytes +
                  s.chunk_cached * kv_elems * kv_share * d_.kv_bytes;
    b_.compute(r, L + "attn_core_chunk", phase, chunk);
  }
  const auto& o = attention.back();
  b_.compute(r, L + "o_proj", phase,
             matmul_cost(d_, s.attn_tokens, o.params() / tp, o.in_features / tp, o.out_features));
}

void StepEmitter::emit_dense_ffn(int r, const Pass& pass, const std::string& L) {
  const auto& s = pass.shape;
  const int shards = s.scatter_gather ? s.ranks : s.tp;
  const double inter = double(model_.dense_intermediate) / shards;
  const double up = up_width(model_, inter);
  const double h = model_.hidden;
  const std::string phase = phase_of(pass, "ffn");
  b_.compute(r, L + "dense_up", phase, matmul_cost(d_, s.moe_tokens, h * up, h, up));
  b_.compute(r, L + "dense_act", phase, activation_cost(model_, d_, s.moe_tokens, inter));
  b_.compute(r, L + "dense_down", phase, matmul_cost(d_, s.moe_tokens, inter * h, inter, h));
}

// Final norm and LM head for the last position of each sequence (every verified position under MTP),
// vocabulary split over each group's tp ranks, then the logits gathered.
void StepEmitter::emit_head(const Pass& pass) {
  const auto& s = pass.shape;
  const double rows = s.seqs * (s.decode ? s.queries_per_seq : 1.0) + s.chunk_seqs;
  const double padded = s.scatter_gather ? padded_tokens(rows, s.tp) : rows;
  const double norm_rows = s.scatter_gather ? padded / s.tp : padded;
  const std::string phase = phase_of(pass, "head");
  for (int r = 0; r < s.ranks; ++r) {
    b_.compute(r, pass.prefix + "final_norm", phase, vector_cost(d_, norm_rows, model_.hidden));
  }
  if (s.scatter_gather)
    tp_collective(pass, pass.prefix + "head_allgather", CollectiveKind::AllGather, padded * model_.hidden, d_.comm);
  for (int r = 0; r < s.ranks; ++r) {
    b_.compute(r, pass.prefix + "lm_head", phase,
               matmul_cost(d_, padded, double(model_.hidden) * model_.vocab / s.tp, model_.hidden,
                           double(model_.vocab) / s.tp));
  }
  tp_collective(pass, pass.prefix + "logits_allgather", CollectiveKind::AllGather, padded * model_.vocab, d_.comm);
}

// One pass of the MTP module (DeepSeek-V3 style, facts 1.2): embedding of the shifted tokens, two norms and the
// 2h -> h projection, one MoE transformer layer with its own KV cache, then the shared final norm and LM head.
void StepEmitter::emit_mtp_pass(const Pass& pass) {
  const auto& s = pass.shape;
  const double h = model_.hidden;
  for (int r = 0; r < s.ranks; ++r) {
    b_.compute(r, pass.prefix + "embedding", pass.phase, vector_cost(d_, s.shard, h));
    b_.compute(r, pass.prefix + "norms", pass.phase, vector_cost(d_, s.shard, 2.0 * h));
    b_.compute(r, pass.prefix + "eh_proj", pass.phase,
               matmul_cost(d_, s.shard, 2.0 * h * h / (s.scatter_gather ? 1 : s.tp), 2.0 * h,
                           h / (s.scatter_gather ? 1 : s.tp)));
  }
  emit_layer(pass, "layer.", model_.moe.has_value(), model_.num_layers - 1);
  emit_head(pass);
}

}  // namespace moesim::model::detail

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

std::vector<int> rank_range(int first, int count) {
  std::vector<int> ranks(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) ranks[static_cast<std::size_t>(i)] = first + i;
  return ranks;
}

// `cost` with only `fraction` of its `weight_bytes` read (DuoStream chunks streaming the weights once).
ComputeCost with_weight_fraction(ComputeCost cost, double weight_bytes, double fraction) {
  cost.bytes -= weight_bytes * (1.0 - fraction);
  return cost;
}

// Width of the first FFN matmul: gate and up (SwiGLU) or up only (GELU).
double up_width(const config::ModelConfig& model, double intermediate) {
  return model.activation == config::FfnActivation::SwiGLU ? 2.0 * intermediate : intermediate;
}

// The element-wise activation between the two FFN matmuls over `rows` x `intermediate`.
ComputeCost activation_cost(const config::ModelConfig& model, const StepDtypes& d, double rows, double intermediate) {
  const double in = up_width(model, intermediate);
  return {OpClass::Vector, Dtype::FP16, 5.0 * rows * intermediate, rows * (in + intermediate) * d.act_bytes};
}

}  // namespace

StepEmitter::StepEmitter(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan)
    : scenario_(scenario),
      model_(*scenario.model),
      p_(scenario.parallel),
      plan_(plan),
      d_(step_dtypes(*scenario.inference)),
      b_(scenario.parallel.tp * scenario.parallel.dp, host_costs(scenario)),
      load_(model_.moe ? expert_load(scenario, plan.expert_placement) : ExpertLoad{}) {}

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

void StepEmitter::emit_expert_block(const Pass& pass, const std::string& L, int layer) {
  const auto& s = pass.shape;
  const double elements = s.moe_tokens * model_.hidden;
  if (!s.scatter_gather) {
    for (int r = 0; r < s.ranks; ++r) emit_expert_ops(r, pass, L, 1.0, true, layer);
    tp_collective(pass, L + "moe_allreduce", CollectiveKind::AllReduce, elements, d_.comm);
    return;
  }
  if (plan_.moe_alltoall) {  // each rank's shard x top_k token-expert rows out to the experts' ranks, and back
    const double rows = s.shard * model_.moe->top_k * model_.hidden;
    if (load_.uniform()) {
      global_collective(pass, L + "moe_dispatch", CollectiveKind::AllToAll, rows, allgather_dtype());
      for (int r = 0; r < s.ranks; ++r) emit_expert_ops(r, pass, L, 1.0, true, layer);
      global_collective(pass, L + "moe_combine", CollectiveKind::AllToAll, rows, d_.comm);
      return;
    }
    // skewed: sender i sends rank j's experts their share of its rows (expert_tp 1: EP index = rank)
    const auto n = static_cast<std::size_t>(s.ranks);
    std::vector<double> to(n * n, 0.0), back(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        if (i == j) continue;
        to[i * n + j] = rows * load_.receive_share(layer, static_cast<int>(j));
        back[j * n + i] = to[i * n + j];
      }
    }
    global_collective(pass, L + "moe_dispatch", CollectiveKind::AllToAllV, 0.0, allgather_dtype(), false, true, to);
    for (int r = 0; r < s.ranks; ++r) emit_expert_ops(r, pass, L, 1.0, true, layer);
    global_collective(pass, L + "moe_combine", CollectiveKind::AllToAllV, 0.0, d_.comm, false, true, back);
    return;
  }
  const int chunks = std::max(1, plan_.duo_stream_chunks);
  if (chunks == 1) {
    global_collective(pass, L + "moe_allgather", CollectiveKind::AllGather, elements, allgather_dtype());
    for (int r = 0; r < s.ranks; ++r) emit_expert_ops(r, pass, L, 1.0, true, layer);
    global_collective(pass, L + "moe_reducescatter", CollectiveKind::ReduceScatter, elements, d_.comm);
    return;
  }
  // DuoStream: every chunk's AllGather is issued up front on the communication stream; chunk k's expert ops wait
  // for its AllGather only, and its ReduceScatter starts when they end, overlapping chunk k+1's compute. The host
  // launches each fused kernel (AGMM, GMM, GMMRS) once: chunks after the first are not dispatched again.
  const double fraction = 1.0 / chunks;
  std::vector<std::vector<OpId>> gathers;
  for (int k = 0; k < chunks; ++k) {
    gathers.push_back(global_collective(pass, L + "moe_allgather.c" + std::to_string(k), CollectiveKind::AllGather,
                                        elements * fraction, allgather_dtype(), true, k == 0));
  }
  std::vector<std::vector<OpId>> scatters;
  for (int k = 0; k < chunks; ++k) {
    const std::string chunk = L + "c" + std::to_string(k) + ".";
    for (int r = 0; r < s.ranks; ++r) {
      const OpId gathered = gathers[static_cast<std::size_t>(k)][static_cast<std::size_t>(r)];
      if (gathered >= 0) b_.wait_for(r, gathered);
      emit_expert_ops(r, pass, chunk, fraction, k == 0, layer);
    }
    scatters.push_back(global_collective(pass, L + "moe_reducescatter.c" + std::to_string(k),
                                         CollectiveKind::ReduceScatter, elements * fraction, d_.comm, true, k == 0));
  }
  for (const auto& scatter : scatters) {
    for (int r = 0; r < s.ranks; ++r) {
      if (scatter[static_cast<std::size_t>(r)] >= 0) b_.wait_for(r, scatter[static_cast<std::size_t>(r)]);
    }
  }
}

void StepEmitter::emit_expert_ops(int r, const Pass& pass, const std::string& L, double fraction, bool dispatched,
                                  int layer) {
  const auto& s = pass.shape;
  const auto& m = *model_.moe;
  const std::string phase = phase_of(pass, "moe");
  // A DuoStream chunk after the first is an iteration of the fused kernel launched for the first: neither the host
  // nor the device launches it again.
  auto op = [&](const std::string& name, ComputeCost cost) {
    cost.launched = dispatched;
    b_.compute(r, L + name, phase, cost, dispatched);
  };
  const double tokens = s.moe_tokens * fraction;
  // the tokens this rank routes: all it sees, or with the EP all-to-all only its own shard
  const double own = plan_.moe_alltoall ? s.shard * fraction : tokens;
  const double h = model_.hidden;
  const auto router = router_matmul(model_);
  op("router", matmul_cost(d_, own, router.params(), router.in_features, router.out_features));
  op("moe_gating", vector_cost(d_, own, m.num_routed_experts));
  const double local_experts = double(m.num_routed_experts) / p_.ep;
  // a skewed load: the rank's experts get `factor` x the balanced rows (each a correspondingly likelier pick)
  const double factor = load_.factor(layer, r / std::max(1, p_.expert_tp));
  const double p_expert = std::min(1.0, factor * m.top_k / m.num_routed_experts);
  const double rows = factor * tokens * m.top_k / p_.ep;  // expected token->expert pairs on this rank
  const bool reread = plan_.duo_stream_reread_weights;
  const double weight_share = reread ? 1.0 : fraction;
  const double touched =
      expected_touched_experts(local_experts, s.real_moe_tokens * (reread ? fraction : 1.0), p_expert);
  const double inter = double(m.expert_intermediate) / p_.expert_tp;
  const double up = up_width(model_, inter);
  op("moe_permute", {OpClass::Vector, Dtype::FP16, rows * h, (own + rows) * h * d_.act_bytes});
  const double up_weights = touched * h * up * d_.weight_bytes;
  op("routed_gate_up", {plan_.grouped_matmul_class, d_.gemm, 2.0 * rows * h * up,
                        up_weights * weight_share + rows * (h + up) * d_.act_bytes});
  op("routed_act", activation_cost(model_, d_, rows, inter));
  const double down_weights = touched * inter * h * d_.weight_bytes;
  op("routed_down", {plan_.grouped_matmul_class, d_.gemm, 2.0 * rows * inter * h,
                     down_weights * weight_share + rows * (inter + h) * d_.act_bytes});
  op("moe_unpermute", {OpClass::Vector, Dtype::FP16, 2.0 * rows * h, (rows + own) * h * d_.act_bytes});
  if (m.num_shared_experts == 0) return;
  // TP: each rank holds 1/tp of the shared experts for every token. H2P: shared-expert TP groups of
  // `shared` ranks each serve 1/(ranks/shared) of the gathered tokens.
  const bool h2p = plan_.comm == InferenceComm::H2P;
  const int shared = plan_.moe_alltoall ? 1
                     : !h2p              ? s.tp
                                         : (plan_.shared_expert_tp == 0 ? s.ranks : plan_.shared_expert_tp);
  const double shared_tokens = plan_.moe_alltoall ? own : h2p ? tokens * shared / s.ranks : tokens;
  const double shared_inter = double(m.num_shared_experts) * m.shared_expert_intermediate / shared;
  const double shared_up = up_width(model_, shared_inter);
  op("shared_gate_up", with_weight_fraction(matmul_cost(d_, shared_tokens, h * shared_up, h, shared_up),
                                            h * shared_up * d_.weight_bytes, weight_share));
  op("shared_act", activation_cost(model_, d_, shared_tokens, shared_inter));
  op("shared_down", with_weight_fraction(matmul_cost(d_, shared_tokens, shared_inter * h, shared_inter, h),
                                         shared_inter * h * d_.weight_bytes, weight_share));
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

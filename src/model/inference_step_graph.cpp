#include "model/inference_step_graph.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "model/microbenchmark_graph.hpp"
#include "model/model_stats.hpp"

namespace moesim::model {

using config::Dtype;
using config::OpClass;

namespace {

// Appends ops rank by rank: compute ops on stream 0, collectives on stream 1, each compute op waiting
// for the collective issued just before it.
class StepBuilder {
 public:
  explicit StepBuilder(int ranks)
      : pending_(static_cast<std::size_t>(ranks)), last_(static_cast<std::size_t>(ranks), -1) {
    graph_.num_ranks = ranks;
  }

  void compute(int rank, const std::string& name, const std::string& phase, ComputeCost cost) {
    Op op;
    op.name = name;
    op.phase = phase;
    op.kind = OpKind::Compute;
    op.rank = rank;
    op.stream = kComputeStream;
    op.compute = cost;
    op.deps = std::move(pending_[static_cast<std::size_t>(rank)]);
    pending_[static_cast<std::size_t>(rank)].clear();
    last_[static_cast<std::size_t>(rank)] = graph_.add(std::move(op));
  }

  void collective(const std::string& name, const std::string& phase, Collective collective) {
    std::vector<std::vector<OpId>> deps;
    for (int rank : collective.ranks) {
      const OpId last = last_[static_cast<std::size_t>(rank)];
      deps.push_back(last >= 0 ? std::vector<OpId>{last} : std::vector<OpId>{});
    }
    const auto ranks = collective.ranks;
    const auto ops = graph_.add_collective_ops(name, phase, std::move(collective), kCommStream, deps);
    for (std::size_t i = 0; i < ranks.size(); ++i) pending_[static_cast<std::size_t>(ranks[i])].push_back(ops[i]);
  }

  OpGraph take() { return std::move(graph_); }

 private:
  OpGraph graph_;
  std::vector<std::vector<OpId>> pending_;
  std::vector<OpId> last_;
};

struct StepShape {
  double seqs = 0;     // sequences on each rank (attention TP: all ranks hold the whole batch)
  double tokens = 0;   // tokens processed per rank in the step
  double context = 0;  // mean keys each query attends to
  double kv_len = 0;   // decode: KV length read per sequence
  bool decode = true;
  Dtype gemm_dtype = Dtype::BF16;
  double weight_bytes = 2;  // per weight element
  double act_bytes = 2;     // per activation element (fp16/bf16 outside int8 GEMMs)
  double kv_bytes = 2;
  Dtype comm_dtype = Dtype::BF16;
};

ComputeCost matmul_cost(const StepShape& s, double params_local, double in, double out, OpClass op_class) {
  return {op_class, s.gemm_dtype, 2.0 * s.tokens * params_local,
          params_local * s.weight_bytes + s.tokens * (in + out) * s.act_bytes};
}

ComputeCost vector_cost(const StepShape& s, double elements_per_token) {
  return {OpClass::Vector, Dtype::FP16, 5.0 * s.tokens * elements_per_token,
          2.0 * s.tokens * elements_per_token * s.act_bytes};
}

}  // namespace

double expected_touched_experts(double local_experts, double tokens, double p_per_expert) {
  return local_experts * (1.0 - std::pow(1.0 - p_per_expert, tokens));
}

OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario) {
  const auto& model = *scenario.model;
  const auto& p = scenario.parallel;
  const auto& w = *scenario.inference;
  if (p.pp > 1 || p.dp > 1 || p.cp > 1) {
    throw std::invalid_argument(scenario.file +
                                ": /parallel: the static inference step covers tp (with ep x expert_tp = tp) "
                                "only; pipeline, context and attention-data parallel serving come with the serving "
                                "strategies (issue #5)");
  }
  if (model.moe && p.ep * p.expert_tp != p.tp) {
    throw std::invalid_argument(scenario.file +
                                ": /parallel/ep: the static inference step needs ep x expert_tp = tp (" +
                                std::to_string(p.tp) + ")");
  }
  const int tp = p.tp;
  StepShape s;
  s.decode = w.phase == config::InferencePhase::Decode;
  s.seqs = w.batch_size;
  s.tokens = s.decode ? w.batch_size : double(w.batch_size) * w.input_len;
  s.kv_len = w.input_len;
  s.context = s.decode ? w.input_len : w.input_len / 2.0;
  s.gemm_dtype = w.weight_dtype == Dtype::INT8 && w.activation_dtype == Dtype::INT8 ? Dtype::INT8 : w.activation_dtype;
  s.weight_bytes = config::bytes_per_element(w.weight_dtype);
  s.comm_dtype = w.activation_dtype == Dtype::INT8 ? Dtype::FP16 : w.activation_dtype;
  s.act_bytes = config::bytes_per_element(s.comm_dtype);
  s.kv_bytes = config::bytes_per_element(w.kv_dtype);

  StepBuilder b(tp);
  std::vector<int> group(static_cast<std::size_t>(tp));
  for (int r = 0; r < tp; ++r) group[static_cast<std::size_t>(r)] = r;
  auto tp_allreduce = [&](const std::string& name) {
    if (tp == 1) return;
    Collective c;
    c.kind = CollectiveKind::AllReduce;
    c.ranks = group;
    c.dtype = s.comm_dtype;
    c.elements = s.tokens * model.hidden;
    b.collective(name, "tp_comm", c);
  };

  const auto attention = attention_matmuls(model);
  const double kv_elems = kv_elements_per_token_per_layer(model);
  const bool mla = model.attention.kind == config::AttentionKind::MLA;
  const double kv_share = mla ? 1.0 : std::max(1.0 / tp, 1.0 / model.attention.num_kv_heads);
  for (int r = 0; r < tp; ++r) b.compute(r, "embedding", "embedding", vector_cost(s, model.hidden));
  for (int layer = 0; layer < model.num_layers; ++layer) {
    const std::string L = "L" + std::to_string(layer) + ".";
    for (int r = 0; r < tp; ++r) {
      b.compute(r, L + "attn_norm", "attention", vector_cost(s, model.hidden));
      for (const auto& m : attention) {
        if (m.name == "o_proj") continue;
        b.compute(r, L + m.name, "attention",
                  matmul_cost(s, m.params() / tp, m.in_features, m.out_features / tp, OpClass::Matmul));
      }
      ComputeCost core;
      core.op_class = OpClass::Attention;
      core.dtype = Dtype::FP16;
      core.flops = s.tokens * attention_core_flops(model, s.context) / tp;
      core.bytes = s.decode
                       ? s.seqs * s.kv_len * kv_elems * kv_share * s.kv_bytes
                       : s.tokens * (kv_elems * kv_share + 2.0 * model.attention.num_heads / tp * v_head_dim(model)) *
                             s.act_bytes;
      b.compute(r, L + "attn_core", "attention", core);
      const auto& o = attention.back();
      b.compute(r, L + "o_proj", "attention",
                matmul_cost(s, o.params() / tp, o.in_features / tp, o.out_features, OpClass::Matmul));
    }
    tp_allreduce(L + "attn_allreduce");
    const bool moe = is_moe_layer(model, layer);
    for (int r = 0; r < tp; ++r) {
      b.compute(r, L + "ffn_norm", "ffn", vector_cost(s, model.hidden));
      if (!moe) {
        const double params = dense_ffn_params(model) / tp;
        b.compute(r, L + "dense_ffn", "ffn",
                  matmul_cost(s, params, model.hidden, 2.0 * model.dense_intermediate / tp, OpClass::Matmul));
        continue;
      }
      const auto& m = *model.moe;
      const auto router = router_matmul(model);
      b.compute(r, L + "router", "moe",
                matmul_cost(s, router.params(), router.in_features, router.out_features, OpClass::Matmul));
      const double local_experts = double(m.num_routed_experts) / p.ep;
      const double p_expert = double(m.top_k) / m.num_routed_experts;
      const double assignments = s.tokens * m.top_k / p.ep;  // expected token->expert pairs on this rank
      const double touched = expected_touched_experts(local_experts, s.tokens, p_expert);
      const double expert_local = expert_params(model) / p.expert_tp;
      ComputeCost gmm{OpClass::GroupedMatmul, s.gemm_dtype, 2.0 * assignments * expert_local,
                      touched * expert_local * s.weight_bytes + assignments * 2.0 * model.hidden * s.act_bytes};
      b.compute(r, L + "routed_experts", "moe", gmm);
      if (m.num_shared_experts > 0) {
        const double params = m.num_shared_experts * shared_expert_params(model) / tp;
        b.compute(r, L + "shared_experts", "moe",
                  matmul_cost(s, params, model.hidden, 2.0 * m.shared_expert_intermediate / tp, OpClass::Matmul));
      }
    }
    tp_allreduce(L + (moe ? "moe_allreduce" : "ffn_allreduce"));
  }
  StepShape head = s;
  head.tokens = s.seqs;  // logits only for the last position of each sequence
  for (int r = 0; r < tp; ++r) {
    b.compute(r, "final_norm", "head", vector_cost(head, model.hidden));
    b.compute(r, "lm_head", "head",
              matmul_cost(head, double(model.hidden) * model.vocab / tp, model.hidden, double(model.vocab) / tp,
                          OpClass::Matmul));
  }
  if (tp > 1) {
    Collective logits;
    logits.kind = CollectiveKind::AllGather;
    logits.ranks = group;
    logits.dtype = s.comm_dtype;
    logits.elements = head.tokens * model.vocab;
    b.collective("logits_allgather", "tp_comm", logits);
  }
  OpGraph graph = b.take();
  graph.num_ranks = scenario.ranks;
  return graph;
}

}  // namespace moesim::model

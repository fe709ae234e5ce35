#include "model/training_blocks.hpp"

#include <algorithm>
#include <stdexcept>

#include "model/model_stats.hpp"
#include "model/moe_dispatch_blocks.hpp"

namespace moesim::model {

using config::OpClass;

namespace {

constexpr double kVectorFlopsPerElement = 5.0;  // estimate: a norm / copy / softmax does a few flops per element

struct Ctx {
  const config::ModelConfig& model;
  const TrainingShape& s;
  double act_bytes() const { return config::bytes_per_element(s.dtype); }
};

BlockOp compute(const std::string& name, const std::string& phase, ComputeCost cost, double dx_factor = 1.0,
                bool weights = false) {
  BlockOp op;
  op.name = name;
  op.phase = phase;
  op.cost = cost;
  op.dx_factor = dx_factor;
  op.weights = weights;
  return op;
}

// y = x W over `tokens` tokens with `params_local` weight elements on this rank.
BlockOp matmul(const Ctx& c, const std::string& name, const std::string& phase, double tokens, double params_local,
               double in_local, double out_local, OpClass op_class = OpClass::Matmul) {
  const double b = c.act_bytes();
  BlockOp op = compute(
      name, phase,
      {op_class, c.s.dtype, 2.0 * tokens * params_local, params_local * b + tokens * (in_local + out_local) * b}, 1.0,
      true);
  op.weight_bytes = params_local * b;
  return op;
}

BlockOp vector(const Ctx& c, const std::string& name, const std::string& phase, double elements,
               double bytes_per_element = 0.0) {
  return compute(name, phase, vector_cost(c.s, elements, bytes_per_element));
}

BlockOp collective(const std::string& name, const std::string& phase, CollectiveKind kind, GroupKind group,
                   double elements, Dtype dtype) {
  BlockOp op;
  op.name = name;
  op.phase = phase;
  op.collective = true;
  op.kind = kind;
  op.group = group;
  op.elements = elements;
  op.dtype = dtype;
  return op;
}

// Entering a TP-sharded block: with sequence parallelism the sequence shards are gathered.
void tp_enter(std::vector<BlockOp>& ops, const Ctx& c, const std::string& name) {
  if (c.s.tp > 1 && c.s.sequence_parallel) {
    ops.push_back(
        collective(name, "tp_comm", CollectiveKind::AllGather, GroupKind::Tp, c.s.tokens * c.model.hidden, c.s.dtype));
  }
}

// Leaving it: partial sums are reduce-scattered back to sequence shards (SP) or all-reduced (no SP).
void tp_exit(std::vector<BlockOp>& ops, const Ctx& c, const std::string& name) {
  if (c.s.tp == 1) return;
  const auto kind = c.s.sequence_parallel ? CollectiveKind::ReduceScatter : CollectiveKind::AllReduce;
  ops.push_back(collective(name, "tp_comm", kind, GroupKind::Tp, c.s.tokens * c.model.hidden, c.s.dtype));
}

// K and V width per token held by one rank after the up-projections (heads sharded over TP).
double kv_width_local(const Ctx& c) {
  const auto& a = c.model.attention;
  if (a.kind == config::AttentionKind::MLA) return double(a.num_heads) / c.s.tp * (qk_head_dim(c.model) + a.v_head_dim);
  return 2.0 * std::max(1.0, double(a.num_kv_heads) / c.s.tp) * a.head_dim;
}

// K and V width per token of this rank's sequence shard that a ring step carries after a Ulysses exchange over `u`
// ranks (u x the tokens, 1/u of the heads; GQA K/V heads repeated when fewer than u): kv_width_local when u = 1.
double kv_ring_width(const Ctx& c, int u) {
  const auto& a = c.model.attention;
  if (a.kind == config::AttentionKind::MLA) return kv_width_local(c);
  return 2.0 * std::max(std::max(1.0, double(a.num_kv_heads) / c.s.tp), double(u)) * a.head_dim;
}

}  // namespace

double ulysses_qkv_width(const config::ModelConfig& model, int tp, int cp) {
  const auto& a = model.attention;
  const double heads_local = double(a.num_heads) / tp;
  if (a.kind == config::AttentionKind::MLA) return heads_local * (2.0 * qk_head_dim(model) + a.v_head_dim);
  // each CP rank needs the K, V heads of its query heads: one at least (repeated when there are fewer than cp)
  const double kv_local = std::max(1.0, double(a.num_kv_heads) / tp);
  return (heads_local + 2.0 * std::max(kv_local, double(cp))) * a.head_dim;
}

namespace {

void attention(std::vector<BlockOp>& ops, const Ctx& c) {
  const double T = c.s.tokens;
  const double tp = c.s.tp;
  const double h = c.model.hidden;
  ops.push_back(vector(c, "attn_norm", "attention", c.s.tokens_sp() * h));
  tp_enter(ops, c, "attn_ag");
  const auto shapes = attention_matmuls(c.model);
  double params = 0.0, widths = 0.0;
  for (std::size_t i = 0; i + 1 < shapes.size(); ++i) {
    params += shapes[i].params();
    widths += shapes[i].in_features + shapes[i].out_features / tp;
  }
  BlockOp in = matmul(c, "attn_in", "attention", T, params / tp, 0.0, 0.0);
  in.cost.bytes = params / tp * c.act_bytes() + T * widths * c.act_bytes();
  ops.push_back(in);
  const double heads_local = c.model.attention.num_heads / tp;
  const bool cp = c.s.cp > 1;
  if (cp && c.s.cp_algorithm == CpAlgorithm::KvAllGather) {  // every rank needs the K, V of the whole sequence
    ops.push_back(collective("cp_kv_ag", "cp_comm", CollectiveKind::AllGather, GroupKind::Cp,
                             T * c.s.cp * kv_width_local(c), c.s.dtype));
  } else if (cp && c.s.cp_algorithm == CpAlgorithm::Ring) {  // one K/V shard per ring step (model/cp_ring)
    BlockOp shift =
        collective("cp_ring", "cp_comm", CollectiveKind::AllToAllV, GroupKind::Cp, T * kv_width_local(c), c.s.dtype);
    shift.ring = true;
    ops.push_back(shift);
  } else if (cp && c.s.cp_algorithm == CpAlgorithm::Ulysses) {  // sequence shards -> head shards of the sequence
    ops.push_back(collective("cp_a2a_qkv", "cp_comm", CollectiveKind::AllToAll, GroupKind::Cp,
                             T * ulysses_qkv_width(c.model, c.s.tp, c.s.cp), c.s.dtype));
  } else if (cp && c.s.cp_algorithm == CpAlgorithm::Hybrid) {  // Ulysses inside, then a ring of the Ulysses groups
    const int u = c.s.cp_ulysses;
    ops.push_back(collective("cp_a2a_qkv", "cp_comm", CollectiveKind::AllToAll, GroupKind::CpUlysses,
                             T * ulysses_qkv_width(c.model, c.s.tp, u), c.s.dtype));
    BlockOp shift = collective("cp_ring", "cp_comm", CollectiveKind::AllToAllV, GroupKind::CpRing,
                               T * kv_ring_width(c, u), c.s.dtype);
    shift.ring = true;
    ops.push_back(shift);
  }
  ComputeCost core{OpClass::Attention, c.s.dtype, T * attention_core_flops(c.model, c.s.seq_len / 2.0) / tp,
                   T * heads_local * 2.0 * (qk_head_dim(c.model) + v_head_dim(c.model)) * c.act_bytes()};
  ops.push_back(compute("attn_core", "attention", core, 2.0));  // backward of QK^T and AV: twice the forward
  if (cp && (c.s.cp_algorithm == CpAlgorithm::Ulysses || c.s.cp_algorithm == CpAlgorithm::Hybrid)) {  // output back
    ops.push_back(collective("cp_a2a_o", "cp_comm", CollectiveKind::AllToAll,
                             c.s.cp_algorithm == CpAlgorithm::Ulysses ? GroupKind::Cp : GroupKind::CpUlysses,
                             T * heads_local * v_head_dim(c.model), c.s.dtype));
  }
  const auto& o = shapes.back();
  ops.push_back(matmul(c, "o_proj", "attention", T, o.params() / tp, o.in_features / tp, o.out_features));
  tp_exit(ops, c, c.s.sequence_parallel ? "attn_rs" : "attn_ar");
}

// A TP-sharded MLP of `width` (its whole intermediate size) over T tokens: FC1 (gate and up for SwiGLU; column
// parallel) then FC2 (down; row parallel) as two matmuls, the activation function folded into FC1.
void mlp_matmuls(std::vector<BlockOp>& ops, const Ctx& c, const std::string& prefix, const std::string& phase,
                 double width) {
  const double h = c.model.hidden;
  const double gate = c.model.activation == config::FfnActivation::SwiGLU ? 2.0 : 1.0;
  const double local = width / c.s.tp;
  ops.push_back(matmul(c, prefix + "_fc1", phase, c.s.tokens, gate * h * local, h, gate * local));
  ops.push_back(matmul(c, prefix + "_fc2", phase, c.s.tokens, h * local, local, h));
}

void dense_ffn(std::vector<BlockOp>& ops, const Ctx& c) {
  const double h = c.model.hidden;
  ops.push_back(vector(c, "ffn_norm", "ffn", c.s.tokens_sp() * h));
  tp_enter(ops, c, "ffn_ag");
  mlp_matmuls(ops, c, "ffn", "ffn", c.model.dense_intermediate);
  tp_exit(ops, c, c.s.sequence_parallel ? "ffn_rs" : "ffn_ar");
}

void moe_block(std::vector<BlockOp>& ops, const Ctx& c) {
  const auto& m = *c.model.moe;
  const double h = c.model.hidden;
  ops.push_back(vector(c, "ffn_norm", "moe", c.s.tokens_sp() * h));
  if (m.num_shared_experts > 0) {
    tp_enter(ops, c, "shared_ag");
    mlp_matmuls(ops, c, "shared", "moe", double(m.num_shared_experts) * m.shared_expert_intermediate);
    if (c.s.sequence_parallel) tp_exit(ops, c, "shared_rs");
  }
  const double T = c.s.tokens_moe();
  const auto router = router_matmul(c.model);
  ops.push_back(matmul(c, "router", "moe", T, router.params(), router.in_features, router.out_features));
  for (int k = 0; c.s.ep_size > 1 && k < c.s.hot_experts; ++k) {  // the hot experts' weights to every EP rank
    BlockOp hot = collective("hot_bcast" + std::to_string(k), "ep_comm", CollectiveKind::Broadcast, GroupKind::Ep,
                             expert_params(c.model) / c.s.etp, c.s.dtype);
    hot.hot_broadcast = k + 1;
    ops.push_back(hot);
  }
  const double routed = T * m.top_k;  // token-expert assignments this rank sends (and, balanced, receives)
  const MoeCommOps comm = moe_comm_ops(c.model, c.s);  // per the moe_comm strategy (model/moe_dispatch_blocks)
  ops.insert(ops.end(), comm.gather.begin(), comm.gather.end());
  ops.push_back(vector(c, "permute", "moe", routed * h));
  ops.insert(ops.end(), comm.dispatch.begin(), comm.dispatch.end());
  if (c.s.etp > 1) {
    ops.push_back(collective("etp_ag", "ep_comm", CollectiveKind::AllGather, GroupKind::ExpertTp, routed * h * c.s.etp,
                             c.s.dtype));
  }
  // Uniform routing: every rank computes routed x top_k rows through 1/etp of its experts' matrices.
  const double local_experts = double(m.num_routed_experts) / c.s.ep_size;
  const double expert_local = expert_params(c.model) / c.s.etp;
  BlockOp gmm = matmul(c, "experts", "moe", routed, expert_local, 0.0, 0.0, OpClass::GroupedMatmul);
  gmm.weight_bytes = local_experts * expert_local * c.act_bytes();
  gmm.cost.bytes = gmm.weight_bytes + routed * c.s.etp * 2.0 * h * c.act_bytes();
  ops.push_back(gmm);
  if (c.s.etp > 1) {
    ops.push_back(collective("etp_rs", "ep_comm", CollectiveKind::ReduceScatter, GroupKind::ExpertTp,
                             routed * h * c.s.etp, c.s.dtype));
  }
  ops.insert(ops.end(), comm.combine.begin(), comm.combine.end());
  ops.push_back(vector(c, "unpermute", "moe", routed * h));
  ops.insert(ops.end(), comm.reduce.begin(), comm.reduce.end());
  if (!c.s.sequence_parallel) tp_exit(ops, c, "moe_ar");  // routed slices + shared partial sums, one AllReduce
}

void head(std::vector<BlockOp>& ops, const Ctx& c, const std::string& phase) {
  const double h = c.model.hidden;
  const double vocab_local = double(c.model.vocab) / c.s.tp;
  ops.push_back(vector(c, "final_norm", phase, c.s.tokens_sp() * h));
  tp_enter(ops, c, "head_ag");
  ops.push_back(matmul(c, "lm_head", phase, c.s.tokens, h * vocab_local, h, vocab_local));
  ops.push_back(vector(c, "loss", phase, c.s.tokens * vocab_local, 4.0));  // fp32 softmax cross-entropy
  if (c.s.tp > 1) {  // vocab-parallel softmax: max and sum of every token over the TP ranks
    BlockOp stats =
        collective("loss_ar", "tp_comm", CollectiveKind::AllReduce, GroupKind::Tp, 2.0 * c.s.tokens, Dtype::FP32);
    stats.mirrored = false;
    ops.push_back(stats);
  }
}

}  // namespace

ComputeCost vector_cost(const TrainingShape& shape, double elements, double bytes_per_element) {
  const double b = bytes_per_element > 0.0 ? bytes_per_element : config::bytes_per_element(shape.dtype);
  return {OpClass::Vector, shape.dtype, kVectorFlopsPerElement * elements, 2.0 * elements * b};
}

TrainingShape training_shape(const config::ScenarioConfig& scenario) {
  if (!scenario.training || !scenario.model) throw std::invalid_argument("training_shape: not a training scenario");
  const auto& p = scenario.parallel;
  const auto& t = *scenario.training;
  TrainingShape s;
  s.tokens = double(t.micro_batch_size) * t.seq_len / p.cp;
  s.seq_len = t.seq_len;
  s.tp = p.tp;
  s.cp = p.cp;
  s.ep_size = scenario.model->moe ? p.expert_parallel_size() : 1;
  s.etp = scenario.model->moe ? p.expert_tp : 1;
  s.sequence_parallel = p.sequence_parallel && p.tp > 1;
  s.dtype = t.dtype;
  return s;
}

std::vector<BlockOp> layer_forward(const config::ModelConfig& model, const TrainingShape& shape, bool moe_layer) {
  const Ctx c{model, shape};
  std::vector<BlockOp> ops;
  attention(ops, c);
  if (moe_layer) {
    moe_block(ops, c);
  } else {
    dense_ffn(ops, c);
  }
  return ops;
}

std::vector<BlockOp> mtp_forward(const config::ModelConfig& model, const TrainingShape& shape) {
  const Ctx c{model, shape};
  const double h = model.hidden;
  std::vector<BlockOp> ops;
  ops.push_back(vector(c, "mtp_norm", "mtp", 2.0 * shape.tokens_sp() * h));
  // projection [h_prev; emb] (2h) -> h, TP-sharded like a column-parallel matmul (no extra collective modelled)
  ops.push_back(matmul(c, "mtp_proj", "mtp", shape.tokens, 2.0 * h * h / shape.tp, 2.0 * h, h / shape.tp));
  for (auto& op : layer_forward(model, shape, model.moe.has_value())) ops.push_back(std::move(op));
  head(ops, c, "mtp");
  return ops;
}

std::vector<BlockOp> embedding_forward(const config::ModelConfig& model, const TrainingShape& shape) {
  const Ctx c{model, shape};
  std::vector<BlockOp> ops;
  // vocab-parallel lookup: each TP rank looks up its vocabulary slice, then partial rows are combined
  ops.push_back(compute("embed", "embedding", vector(c, "", "", shape.tokens * model.hidden).cost, 0.0, true));
  tp_exit(ops, c, shape.sequence_parallel ? "embed_rs" : "embed_ar");
  return ops;
}

std::vector<BlockOp> head_forward(const config::ModelConfig& model, const TrainingShape& shape) {
  const Ctx c{model, shape};
  std::vector<BlockOp> ops;
  head(ops, c, "head");
  return ops;
}

std::vector<BlockOp> slot_forward(const config::ModelConfig& model, const TrainingShape& shape, const LayerSlot& slot) {
  switch (slot.kind) {
    case SlotKind::Layer:
      return layer_forward(model, shape, is_moe_layer(model, slot.index));
    case SlotKind::Mtp:
      return mtp_forward(model, shape);
    case SlotKind::Padding:
      return {};
  }
  return {};
}

namespace {

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

// Without sequence parallelism a TP region is: column-parallel input (identity forward, AllReduce of dX backward)
// ... row-parallel output (AllReduce forward, identity backward). The mirrored list has each region's AllReduce at
// its row-parallel end, so move it to the column-parallel end: right before the region's norm (its first op in the
// forward). A region without a norm has no column-parallel input (the vocab-parallel embedding, whose output
// AllReduce is the only TP collective of its slot): its AllReduce has no backward, so it is dropped.
std::vector<BlockOp> tp_allreduce_at_column_side(std::vector<BlockOp> dx) {
  for (std::size_t i = 0; i < dx.size(); ++i) {
    const BlockOp& op = dx[i];
    if (!op.collective || op.group != GroupKind::Tp || op.kind != CollectiveKind::AllReduce) continue;
    std::size_t norm = i + 1;
    while (norm < dx.size() && !(!dx[norm].collective && ends_with(module_of(dx[norm]), "norm_b"))) ++norm;
    if (norm == dx.size()) {
      dx.erase(dx.begin() + static_cast<long>(i));
      --i;
      continue;
    }
    if (norm == i + 1) continue;
    BlockOp moved = op;
    dx.erase(dx.begin() + static_cast<long>(i));
    dx.insert(dx.begin() + static_cast<long>(norm - 1), std::move(moved));
    --i;  // the op now at i has not been looked at
  }
  return dx;
}

}  // namespace

std::vector<BlockOp> backward_ops(const std::vector<BlockOp>& forward, Pass pass) {
  if (pass == Pass::Forward) return forward;
  std::vector<BlockOp> out;
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    BlockOp op = *it;
    if (pass == Pass::BackwardWeight) {
      if (op.collective || !op.weights) continue;
      op.name += "_w";
      op.dx_factor = 0.0;
      out.push_back(std::move(op));
      continue;
    }
    if (op.collective) {
      if (!op.mirrored) continue;
      if (op.kind == CollectiveKind::AllGather) {
        op.kind = CollectiveKind::ReduceScatter;
      } else if (op.kind == CollectiveKind::ReduceScatter) {
        op.kind = CollectiveKind::AllGather;
      }
      op.name += "_b";
      op.expert_flow = -op.expert_flow;
      out.push_back(std::move(op));
      continue;
    }
    if (op.dx_factor <= 0.0) continue;
    op.cost.flops *= op.dx_factor;
    op.cost.bytes *= op.dx_factor;
    op.weight_bytes *= op.dx_factor;
    op.name += "_b";
    op.weights = false;
    out.push_back(std::move(op));
  }
  return pass == Pass::BackwardInput ? tp_allreduce_at_column_side(std::move(out)) : out;
}

std::string module_of(const BlockOp& op) {
  const auto dot = op.name.rfind('.');
  return dot == std::string::npos ? op.name : op.name.substr(dot + 1);
}

bool unchunked_dense_matmul(const BlockOp& op) {
  return !op.collective && op.host_copy == HostCopy::None && op.cost.op_class == OpClass::Matmul && !op.chunked;
}

double block_flops(const std::vector<BlockOp>& ops, bool model_flops_only) {
  double total = 0.0;
  for (const auto& op : ops) {
    if (op.collective) continue;
    if (model_flops_only && op.cost.op_class == OpClass::Vector) continue;
    total += op.cost.flops;
  }
  return total;
}

}  // namespace moesim::model

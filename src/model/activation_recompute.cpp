#include "model/activation_recompute.hpp"

#include <algorithm>
#include <string>

#include "model/training_memory.hpp"

namespace moesim::model {

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// Index of the first op named `name` in [from, to), or kNone.
std::size_t find(const std::vector<BlockOp>& ops, const std::string& name, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to && i < ops.size(); ++i) {
    if (ops[i].name == name) return i;
  }
  return kNone;
}

struct Selection {
  std::vector<double> factor;               // per forward op: share of its cost re-run (0 = not)
  std::vector<std::vector<BlockOp>> after;  // extra ops (activation functions) after a forward op
  void mark(std::size_t i, double share = 1.0) {
    if (i != kNone) factor[i] = std::min(1.0, factor[i] + share);
  }
  void mark_range(std::size_t first, std::size_t last) {  // [first, last]
    if (first == kNone || last == kNone) return;
    for (std::size_t i = first; i <= last; ++i) mark(i);
  }
};

BlockOp activation_function(const std::string& name, const TrainingShape& shape, double fc1_elements) {
  BlockOp op;
  op.name = name;
  op.phase = "recompute";
  op.cost = vector_cost(shape, fc1_elements);
  return op;
}

}  // namespace

double fc1_share(const config::ModelConfig& model) {
  const double gate = model.activation == config::FfnActivation::SwiGLU ? 2.0 : 1.0;
  return gate / (gate + 1.0);
}

std::vector<BlockOp> recompute_ops(const config::ModelConfig& model, const TrainingShape& shape, const LayerSlot& slot,
                                   const std::vector<BlockOp>& forward, const ActivationPlan& plan) {
  if (slot.kind == SlotKind::Padding || plan.empty()) return {};
  // The transformer layer's ops: the whole slot, or inside an MTP module from its layer's first norm to the head.
  std::size_t lo = 0, hi = forward.size();
  if (slot.kind == SlotKind::Mtp) {
    lo = find(forward, "attn_norm", 0, forward.size());
    hi = find(forward, "final_norm", lo == kNone ? 0 : lo, forward.size());
    if (lo == kNone) return {};
    if (hi == kNone) hi = forward.size();
  }
  Selection sel{std::vector<double>(forward.size(), 0.0), std::vector<std::vector<BlockOp>>(forward.size())};
  if (plan.full_recompute) {
    for (std::size_t i = lo; i < hi; ++i) sel.mark(i);
  } else {
    auto recompute = [&](const char* module) { return plan.mode(module) == ActivationMode::Recompute; };
    const std::size_t attn_norm = find(forward, "attn_norm", lo, hi);
    const std::size_t attn_core = find(forward, "attn_core", lo, hi);
    const std::size_t ffn_norm = find(forward, "ffn_norm", lo, hi);
    const std::size_t router = find(forward, "router", lo, hi);
    const std::size_t experts = find(forward, "experts", lo, hi);
    const std::size_t unpermute = find(forward, "unpermute", lo, hi);
    const double gate = model.activation == config::FfnActivation::SwiGLU ? 2.0 : 1.0;
    const double fc1 = fc1_share(model);
    if (recompute("norm")) {
      sel.mark(attn_norm);
      sel.mark(ffn_norm);
    }
    if (recompute("attention_core") && attn_norm != kNone) sel.mark_range(attn_norm + 1, attn_core);
    if (recompute("router_probs")) sel.mark(router);
    if (recompute("permute") && router != kNone && experts != kNone) sel.mark_range(router + 1, experts - 1);
    if (experts != kNone && model.moe) {
      const double fc1_elements = shape.tokens_moe() * model.moe->top_k * gate * model.moe->expert_intermediate;
      if (recompute("expert_fc1")) sel.mark(experts, fc1);
      if (recompute("activation")) sel.after[experts].push_back(activation_function("expert_act", shape, fc1_elements));
      if (recompute("unpermute")) {
        sel.mark(experts, 1.0 - fc1);
        if (unpermute != kNone) sel.mark_range(experts + 1, unpermute - 1);
      }
    }
    // shared experts / dense FFN: [TP AllGather] + FC1 + the activation function
    auto mlp = [&](const char* module, const char* prefix, double width_local) {
      const std::size_t m = find(forward, std::string(prefix) + "_fc1", lo, hi);
      if (!recompute(module) || m == kNone || ffn_norm == kNone) return;
      sel.mark_range(ffn_norm + 1, m);
      sel.after[m].push_back(
          activation_function(std::string(prefix) + "_act", shape, shape.tokens * gate * width_local));
    };
    if (model.moe && model.moe->num_shared_experts > 0) {
      mlp("shared_experts", "shared",
          double(model.moe->num_shared_experts) * model.moe->shared_expert_intermediate / shape.tp);
    }
    mlp("ffn", "ffn", double(model.dense_intermediate) / shape.tp);
    if (recompute("ffn_activation") && plan.mode("ffn") == ActivationMode::Keep) {  // from the kept FC1 output
      if (const std::size_t m = find(forward, "ffn_fc1", lo, hi); m != kNone) {
        sel.after[m].push_back(
            activation_function("ffn_act", shape, shape.tokens * gate * double(model.dense_intermediate) / shape.tp));
      }
    }
  }
  std::vector<BlockOp> out;
  for (std::size_t i = lo; i < hi; ++i) {
    if (sel.factor[i] > 0.0) {
      BlockOp op = forward[i];
      op.name = "rc." + op.name;
      op.weights = false;
      op.dx_factor = 0.0;
      if (!op.collective) {
        op.phase = "recompute";
        op.cost.flops *= sel.factor[i];
        op.cost.bytes *= sel.factor[i];
      }
      out.push_back(std::move(op));
    }
    for (auto& extra : sel.after[i]) {
      extra.name = "rc." + extra.name;
      out.push_back(std::move(extra));
    }
  }
  return out;
}

double swap_bytes(const config::ModelConfig& model, const TrainingShape& shape, const LayerSlot& slot,
                  const ActivationPlan& plan, int virtual_stage) {
  if (slot.kind == SlotKind::Padding || !plan.swaps_in(virtual_stage)) return 0.0;
  return split_activations(slot_activation_bytes(model, shape, slot), plan).swapped_bytes;
}

}  // namespace moesim::model

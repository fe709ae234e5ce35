#include "model/training_memory.hpp"

#include <algorithm>

#include "model/model_stats.hpp"
#include "model/moe_dispatch_blocks.hpp"

namespace moesim::model {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Estimates (docs/training.md "Memory"): HCCL reserves HCCL_BUFFSIZE (default 200 MB, CANN environment-variable
// reference) per communicator; the runtime, operator workspaces and allocator fragmentation take ~1 GiB.
constexpr double kCommBufferPerGroupBytes = 200.0 * 1024 * 1024;
constexpr double kRuntimeReserveBytes = 1.0 * kGiB;
// Megatron distributed optimizer with bf16 training: fp32 gradient buffer (4 B/param), fp32 master weights and
// Adam m, v (12 B/param, sharded over the data-parallel group).
constexpr double kGradBytesPerParam = 4.0;
constexpr double kOptimizerBytesPerParam = 12.0;
// Activation modules held on the rank of the experts that process the rows (their size follows the expert load):
// the dispatched rows (the grouped matmul's saved input), FC1's output and the activation's output.
constexpr const char* kExpertSideModules[] = {"permute", "expert_fc1", "activation"};

double slot_dense_params(const config::ModelConfig& model, const LayerSlot& slot) {
  if (slot.kind == SlotKind::Padding) return 0.0;
  const bool moe = slot.kind == SlotKind::Mtp ? model.moe.has_value() : is_moe_layer(model, slot.index);
  const double routed = moe ? model.moe->num_routed_experts * expert_params(model) : 0.0;
  const double layer = transformer_layer_params(model, moe, false) - routed;
  return slot.kind == SlotKind::Mtp ? mtp_module_params(model, false) - routed : layer;
}

double slot_expert_params(const config::ModelConfig& model, const LayerSlot& slot) {
  if (slot.kind == SlotKind::Padding || !model.moe) return 0.0;
  const bool moe = slot.kind == SlotKind::Mtp || is_moe_layer(model, slot.index);
  return moe ? model.moe->num_routed_experts * expert_params(model) : 0.0;
}

void add(std::map<std::string, double>& into, const std::string& key, double bytes) {
  into[key] += bytes;
}

// Per-module activation bytes of one transformer layer (docs/training.md "Memory"): the keys are the modules the
// "memory" strategy can keep, recompute or swap (model/activation_plan), plus layer_input and residual.
void layer_activations(std::map<std::string, double>& m, const config::ModelConfig& model, const TrainingShape& s,
                       bool moe) {
  const double b = config::bytes_per_element(s.dtype);
  const double h = model.hidden;
  const double T = s.tokens;
  const double tp = s.tp;
  const auto& a = model.attention;
  const double heads = a.num_heads / tp;
  const double gate = model.activation == config::FfnActivation::SwiGLU ? 2.0 : 1.0;
  add(m, "layer_input", s.tokens_sp() * h * b);  // input of the attention norm (the layer's checkpoint)
  add(m, "residual", s.tokens_sp() * h * b);     // input of the FFN / MoE norm
  add(m, "norm", 2.0 * s.tokens_sp() * h * b);   // outputs of both norms: inputs of the projections / router / FFN
  double latent = 0.0;                           // MLA: compressed q and kv kept for the up-projections' backward
  if (a.kind == config::AttentionKind::MLA) latent = double(a.q_lora_rank) + a.kv_lora_rank + a.qk_rope_head_dim;
  add(m, "attention_core",
      T * latent * b + T * heads * (2.0 * qk_head_dim(model) + 2.0 * v_head_dim(model)) * b +
          T * heads * 4.0);  // latents, q k v and output, fp32 softmax statistics (flash attention: no s^2 term)
  if (!moe) {
    const double width = model.dense_intermediate / tp;
    add(m, "ffn", T * gate * width * b);      // FC1 (gate/up) output
    add(m, "ffn_activation", T * width * b);  // activation output (the FC2 input)
    return;
  }
  const auto& e = *model.moe;
  const double routed = s.tokens_moe() * e.top_k;
  add(m, "router_probs", s.tokens_moe() * e.num_routed_experts * 4.0);
  add(m, "permute", routed * h * b);
  add(m, "expert_fc1", routed * gate * e.expert_intermediate * b);
  add(m, "activation", routed * e.expert_intermediate * b);
  add(m, "unpermute", routed * h * b);
  if (const double gathered = moe_dispatch_activation_bytes(model, s); gathered > 0.0) add(m, "ep_allgather", gathered);
  if (e.num_shared_experts > 0) {
    const double width = double(e.num_shared_experts) * e.shared_expert_intermediate / tp;
    add(m, "shared_experts", T * (gate + 1.0) * width * b);
  }
}

void head_activations(std::map<std::string, double>& m, const config::ModelConfig& model, const TrainingShape& s,
                      const std::string& key) {
  const double b = config::bytes_per_element(s.dtype);
  add(m, key, s.tokens_sp() * model.hidden * b + s.tokens * double(model.vocab) / s.tp * 4.0);  // fp32 logits
}

}  // namespace

StageParams virtual_stage_params(const config::ModelConfig& model, const config::ParallelLayout& parallel,
                                 const VirtualStage& stage) {
  StageParams p;
  for (const auto& slot : stage.slots) {
    p.dense += slot_dense_params(model, slot) / parallel.tp;
    p.expert += slot_expert_params(model, slot) / (double(parallel.expert_parallel_size()) * parallel.expert_tp);
  }
  const double table = double(model.vocab) * model.hidden / parallel.tp;
  if (stage.embedding) p.dense += table;
  if (stage.head) p.dense += table + double(model.hidden) / parallel.tp;  // LM head (a copy when tied) + final norm
  return p;
}

std::map<std::string, double> slot_activation_bytes(const config::ModelConfig& model, const TrainingShape& shape,
                                                    const LayerSlot& slot) {
  std::map<std::string, double> m;
  if (slot.kind == SlotKind::Layer) layer_activations(m, model, shape, is_moe_layer(model, slot.index));
  if (slot.kind == SlotKind::Mtp) {
    const double b = config::bytes_per_element(shape.dtype);
    add(m, "mtp", 3.0 * shape.tokens_sp() * model.hidden * b);  // two normed inputs + projection input
    layer_activations(m, model, shape, model.moe.has_value());
    head_activations(m, model, shape, "mtp");
  }
  return m;
}

std::map<std::string, double> virtual_stage_activation_bytes(const config::ModelConfig& model,
                                                             const TrainingShape& shape, const VirtualStage& stage) {
  std::map<std::string, double> m;
  for (const auto& slot : stage.slots) {
    for (const auto& [module, bytes] : slot_activation_bytes(model, shape, slot)) m[module] += bytes;
  }
  if (stage.head) head_activations(m, model, shape, "head");
  return m;
}

double MemoryBreakdown::total() const {
  return weights_bytes + gradients_bytes + optimizer_bytes + activations_bytes + comm_buffers_bytes + workspace_bytes;
}

StageMemory stage_memory(const config::ScenarioConfig& scenario, const std::vector<VirtualStage>& stages, int stage,
                         const std::vector<int>& in_flight_per_chunk, const ActivationPlan& plan,
                         const MoeCommPlan& moe_comm, const ExpertLoad& load) {
  const auto& model = *scenario.model;
  const auto& p = scenario.parallel;
  TrainingShape shape = training_shape(scenario);
  shape.moe_comm = moe_comm;
  const double weight_bytes = config::bytes_per_element(scenario.training->dtype);
  const double dense_shards = double(p.dp) * p.cp;
  const double expert_shards = double(p.tp) * p.cp * p.dp / (double(p.expert_parallel_size()) * p.expert_tp);
  StageMemory out;
  out.stage = stage;
  MemoryBreakdown& m = out.breakdown;
  double logits_bytes = 0.0;
  double max_recomputed = 0.0, max_swapped = 0.0;  // largest per-slot (uniform groups: per-group) share
  // Expert load: per MoE slot of the stage, the bytes of its expert-side modules (the rows that live on the experts'
  // rank), kept and in total, to scale by the load of the stage's most loaded EP rank below.
  struct ExpertSide {
    int layer = -1;
    int in_flight = 0;
    std::map<std::string, double> kept;  // expert-side modules only
    double all = 0.0;
  };
  std::vector<ExpertSide> expert_sides;
  for (const auto& vs : stages) {
    if (vs.stage != stage) continue;
    const StageParams params = virtual_stage_params(model, p, vs);
    m.weights_bytes += (params.dense + params.expert) * weight_bytes;
    m.gradients_bytes += (params.dense + params.expert) * kGradBytesPerParam;
    if (load.hot_experts > 0) {  // balanced_moe: every rank holds the hot experts' weights and their gradients
      for (const auto& slot : vs.slots) {
        if (slot_expert_params(model, slot) <= 0.0) continue;
        const double hot = load.hot_experts * expert_params(model) / p.expert_tp;
        m.weights_bytes += hot * weight_bytes;
        m.gradients_bytes += hot * kGradBytesPerParam;
      }
    }
    m.optimizer_bytes += kOptimizerBytesPerParam * (params.dense / dense_shards + params.expert / expert_shards);
    const int in_flight =
        static_cast<std::size_t>(vs.chunk) < in_flight_per_chunk.size() ? in_flight_per_chunk[vs.chunk] : 0;
    out.in_flight_micro_batches += in_flight;
    const int virtual_stage = vs.chunk * p.pp + vs.stage;
    const std::vector<int> positions = layer_positions(vs);
    // slots whose recomputed activations live together
    const int group_size = plan.recompute_group(vs.chunk, vs.stage);
    double group_recomputed = 0.0;
    for (std::size_t i = 0; i < vs.slots.size(); ++i) {
      const LayerSlot& slot = vs.slots[i];
      const auto all = slot_activation_bytes(model, shape, slot);
      const ActivationSplit split =
          split_activations(all, plan.at_slot(vs.chunk, vs.stage, positions[i]), plan.swaps_in(virtual_stage));
      if (!load.uniform() && slot.kind != SlotKind::Padding) {
        ExpertSide side;
        side.layer = expert_load_layer(model, slot);
        side.in_flight = in_flight;
        for (const char* module : kExpertSideModules) {
          if (const auto it = all.find(module); it != all.end()) side.all += it->second;
          if (const auto it = split.kept.find(module); it != split.kept.end()) side.kept[module] = it->second;
        }
        expert_sides.push_back(std::move(side));
      }
      for (const auto& [module, bytes] : split.kept) m.activations_by_module[module] += bytes * in_flight;
      m.activations_bytes += split.kept_bytes * in_flight;
      m.activations_keep_all_bytes += split.total_bytes * in_flight;
      m.activations_recomputed_bytes += split.recomputed_bytes * in_flight;
      m.activations_swapped_bytes += split.swapped_bytes * in_flight;
      if (i > 0 && positions[i] / group_size != positions[i - 1] / group_size) group_recomputed = 0.0;
      group_recomputed += split.recomputed_bytes;
      max_recomputed = std::max(max_recomputed, group_recomputed);
      max_swapped = std::max(max_swapped, split.swapped_bytes);
    }
    if (vs.head) {
      std::map<std::string, double> head;
      head_activations(head, model, shape, "head");
      m.activations_by_module["head"] += head["head"] * in_flight;
      m.activations_bytes += head["head"] * in_flight;
      m.activations_keep_all_bytes += head["head"] * in_flight;
    }
    if (vs.head) logits_bytes = shape.tokens * double(model.vocab) / p.tp * 4.0;
  }
  if (!expert_sides.empty()) {  // the EP rank of the stage with the most expert-side bytes
    double worst_extra = 0.0;
    int worst = -1;
    for (int j = 0; j < load.ep_size; ++j) {
      double extra = 0.0;
      for (const auto& side : expert_sides) {
        double kept = 0.0;
        for (const auto& [module, bytes] : side.kept) kept += bytes;
        extra += (load.factor(side.layer, j) - 1.0) * kept * side.in_flight;
      }
      if (worst < 0 || extra > worst_extra) worst_extra = extra, worst = j;
    }
    for (const auto& side : expert_sides) {
      const double f = load.factor(side.layer, worst) - 1.0;
      for (const auto& [module, bytes] : side.kept) {
        m.activations_by_module[module] += f * bytes * side.in_flight;
        m.activations_bytes += f * bytes * side.in_flight;
      }
      m.activations_keep_all_bytes += f * side.all * side.in_flight;
    }
    out.expert_ep_index = worst;
  }
  // Recompute / swap working set: the layer being back-propagated holds its recomputed and swapped-in activations,
  // and the next layer's swapped activations are being prefetched (docs/training.md "Selective recompute and swap").
  if (out.in_flight_micro_batches > 0) {
    m.activation_working_set_bytes = max_recomputed + 2.0 * max_swapped;
    if (m.activation_working_set_bytes > 0.0) {
      m.activations_by_module["recompute_swap_working_set"] = m.activation_working_set_bytes;
      m.activations_bytes += m.activation_working_set_bytes;
    }
  }
  int groups = 0;  // communicators with more than one member
  for (int size : {p.tp, p.cp, p.dp * p.cp, p.pp > 1 ? 2 : 1, shape.ep_size, shape.etp,
                   model.moe ? static_cast<int>(expert_shards) : 1}) {
    if (size > 1) ++groups;
  }
  if (model.moe && moe_comm.dispatch == MoeDispatch::HierarchicalEp) {  // node-split EP communicators
    if (moe_comm.outer > 1) ++groups;
    if (moe_comm.inner > 1 && moe_comm.inner != p.tp) ++groups;  // inner == the TP group under TP-extend-EP
  }
  m.comm_buffers_bytes = groups * kCommBufferPerGroupBytes;
  m.workspace_bytes = kRuntimeReserveBytes + logits_bytes;  // + the fp32 logits gradient of the loss backward
  out.capacity_bytes = scenario.topology.device.memory_bytes.value;
  out.oom = m.total() > out.capacity_bytes;
  return out;
}

}  // namespace moesim::model

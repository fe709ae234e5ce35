#pragma once
// What a training step does with each activation module of a transformer layer (the plan of the "memory" strategy
// family, strategy/memory_selective_recompute_swap): keep it in device memory until the backward, drop it and
// recompute it at the start of the layer's backward, or copy it to host memory after the layer's forward and back
// before its backward. The memory model (training_memory) and the step builder both read the plan.
// docs/training.md ("Selective recompute and swap").
#include <map>
#include <string>
#include <vector>

namespace moesim::model {

enum class ActivationMode { Keep, Recompute, Swap };
std::string to_string(ActivationMode mode);

// A layer count per virtual stage, counts[chunk][stage]; empty = no count (every layer).
using LayerCounts = std::vector<std::vector<int>>;
// The count of (chunk, stage); -1 without one.
int layer_count(const LayerCounts& counts, int chunk, int stage);
// Every chunk has the same counts (then counts[0] says it all, one per pipeline stage).
bool same_in_every_chunk(const LayerCounts& counts);

// Activation modules whose mode can be chosen, as keyed by training_memory's per-module activation bytes:
// norm (the two norm outputs), attention_core (MLA latents, q, k, v, core output, softmax statistics),
// router_probs, permute (tokens at the experts' input), unpermute (expert outputs back at the source rank),
// expert_fc1 (gate/up output), activation (SwiGLU/GELU output), shared_experts and ffn (FC1 and activation outputs
// of the shared experts / dense FFN), ffn_activation (the dense FFN's activation output alone, recomputed from the
// kept FC1 output: MindFormers' select_recompute of feed_forward.mul and silu; "ffn" set to recompute or swap
// covers it too). The other keys are never dropped by a per-module mode: layer_input (the
// checkpoint), residual (the second norm's input), mtp and head.
const std::vector<std::string>& selectable_activation_modules();

struct ActivationPlan {
  std::map<std::string, ActivationMode> modules;  // absent = keep
  // Full layer recompute (Megatron "full"): every transformer layer keeps only its input and re-runs its whole
  // forward at the start of its backward; per-module modes are then ignored for layer modules.
  bool full_recompute = false;
  // Per virtual stage (chunk x pp + stage): whether swap modes apply there (empty = everywhere). Where a stage never
  // holds more than one micro-batch of a chunk, its backward follows its forward at once and copies could not
  // hide; swap-mode modules are kept there (strategy::resolve_memory_plan sets this from the schedule).
  std::vector<bool> swap_virtual_stages;
  // Layer counts per (chunk, pipeline stage), counts[chunk][stage] (empty = every layer; the strategy params give
  // one count for all, one per pipeline stage for every chunk, or MindFormers' 2-D [chunk][stage] lists): a
  // virtual stage's layer slots (transformer layers and MTP modules, padding not counted) at positions below its
  // full_recompute_layers count are fully recomputed (with full_recompute; Megatron's "block" method,
  // --recompute-num-layers), the others follow the per-module modes; those at positions below its
  // module_recompute_layers count take the per-module recompute modes, the others keep those modules
  // (MindFormers' select_recompute counts). Swap modes apply to every layer. A count above a virtual stage's layers
  // covers all of them.
  LayerCounts full_recompute_layers;
  LayerCounts module_recompute_layers;
  // Megatron's "uniform" method (with full_recompute; full_recompute_layers then gives the group size per virtual
  // stage): every layer is fully recomputed, but only the first layer of each group of that many consecutive layer
  // slots keeps its input; the group's forward is re-run at the start of its backward (its layers' activations are
  // alive together). False = the "block" method above.
  bool uniform_groups = false;
  // Set by at_slot for a slot whose input a uniform group does not keep (its group's first layer's is kept).
  bool drop_layer_input = false;

  ActivationMode mode(const std::string& module) const;
  // The plan the layer slot at `position` of the virtual stage (chunk, pipeline stage) follows: the layer counts
  // resolved into full_recompute and the modules' modes (the returned plan has no counts).
  ActivationPlan at_slot(int chunk, int stage, int position) const;
  // Layer slots that recompute together at the start of their backward: the virtual stage's uniform group size,
  // else 1.
  int recompute_group(int chunk, int stage) const;
  bool layer_limited() const;  // some count is set
  bool empty() const;          // keeps everything
  bool swaps_in(int virtual_stage) const;
};

// How one slot's activation bytes (per module, one micro-batch, one rank) split under a plan.
struct ActivationSplit {
  std::map<std::string, double> kept;  // per module, only what stays in device memory
  double kept_bytes = 0.0;
  double recomputed_bytes = 0.0;
  double swapped_bytes = 0.0;
  double total_bytes = 0.0;  // everything, as without a plan
};
// `swap`: whether swap modes apply (ActivationPlan::swaps_in of the slot's virtual stage); else they keep.
ActivationSplit split_activations(const std::map<std::string, double>& bytes_by_module, const ActivationPlan& plan,
                                  bool swap = true);

}  // namespace moesim::model

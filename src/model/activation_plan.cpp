#include "model/activation_plan.hpp"

#include <algorithm>

namespace moesim::model {

std::string to_string(ActivationMode mode) {
  switch (mode) {
    case ActivationMode::Keep:
      return "keep";
    case ActivationMode::Recompute:
      return "recompute";
    case ActivationMode::Swap:
      return "swap";
  }
  return "?";
}

const std::vector<std::string>& selectable_activation_modules() {
  static const std::vector<std::string> modules = {"norm",      "attention_core", "router_probs", "permute",
                                                   "unpermute", "expert_fc1",     "activation",   "shared_experts",
                                                   "ffn",       "ffn_activation"};
  return modules;
}

ActivationMode ActivationPlan::mode(const std::string& module) const {
  const auto it = modules.find(module);
  return it == modules.end() ? ActivationMode::Keep : it->second;
}

bool ActivationPlan::swaps_in(int virtual_stage) const {
  if (virtual_stage < 0 || static_cast<std::size_t>(virtual_stage) >= swap_virtual_stages.size()) return true;
  return swap_virtual_stages[static_cast<std::size_t>(virtual_stage)];
}

int layer_count(const LayerCounts& counts, int chunk, int stage) {
  if (chunk < 0 || stage < 0 || static_cast<std::size_t>(chunk) >= counts.size()) return -1;
  const auto& row = counts[static_cast<std::size_t>(chunk)];
  return static_cast<std::size_t>(stage) < row.size() ? row[static_cast<std::size_t>(stage)] : -1;
}

bool same_in_every_chunk(const LayerCounts& counts) {
  return std::all_of(counts.begin(), counts.end(), [&](const auto& row) { return row == counts.front(); });
}

namespace {

bool below_count(const LayerCounts& counts, int chunk, int stage, int position) {
  const int count = layer_count(counts, chunk, stage);
  return count < 0 || position < count;
}

}  // namespace

ActivationPlan ActivationPlan::at_slot(int chunk, int stage, int position) const {
  ActivationPlan out;
  out.swap_virtual_stages = swap_virtual_stages;
  if (full_recompute && uniform_groups) {
    out.full_recompute = true;
    out.drop_layer_input = position % recompute_group(chunk, stage) != 0;
  } else {
    out.full_recompute = full_recompute && below_count(full_recompute_layers, chunk, stage, position);
  }
  const bool module_recompute = below_count(module_recompute_layers, chunk, stage, position);
  for (const auto& [module, mode] : modules) {
    out.modules[module] = mode == ActivationMode::Recompute && !module_recompute ? ActivationMode::Keep : mode;
  }
  return out;
}

int ActivationPlan::recompute_group(int chunk, int stage) const {
  if (!full_recompute || !uniform_groups) return 1;
  return std::max(1, layer_count(full_recompute_layers, chunk, stage));
}

bool ActivationPlan::layer_limited() const {
  return !full_recompute_layers.empty() || !module_recompute_layers.empty();
}

bool ActivationPlan::empty() const {
  if (full_recompute) return false;
  return std::all_of(modules.begin(), modules.end(), [](const auto& m) { return m.second == ActivationMode::Keep; });
}

namespace {

bool is_selectable(const std::string& module) {
  const auto& all = selectable_activation_modules();
  return std::find(all.begin(), all.end(), module) != all.end();
}

}  // namespace

ActivationSplit split_activations(const std::map<std::string, double>& bytes_by_module, const ActivationPlan& plan,
                                  bool swap) {
  ActivationSplit split;
  for (const auto& [module, bytes] : bytes_by_module) {
    split.total_bytes += bytes;
    ActivationMode mode = ActivationMode::Keep;
    if (plan.full_recompute) {
      if (is_selectable(module) || module == "residual" || (module == "layer_input" && plan.drop_layer_input))
        mode = ActivationMode::Recompute;
    } else if (module == "ffn_activation" && plan.mode("ffn") != ActivationMode::Keep) {
      mode = plan.mode("ffn");  // "ffn" covers the activation output too
      if (mode == ActivationMode::Swap && !swap) mode = ActivationMode::Keep;
    } else if (is_selectable(module)) {
      mode = plan.mode(module);
      if (mode == ActivationMode::Swap && !swap) mode = ActivationMode::Keep;
    }
    switch (mode) {
      case ActivationMode::Keep:
        split.kept[module] += bytes;
        split.kept_bytes += bytes;
        break;
      case ActivationMode::Recompute:
        split.recomputed_bytes += bytes;
        break;
      case ActivationMode::Swap:
        split.swapped_bytes += bytes;
        break;
    }
  }
  return split;
}

}  // namespace moesim::model

#include "strategy/memory_selective_recompute_swap.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "config/units.hpp"
#include "strategy/memory_layer_counts.hpp"
#include "strategy/memory_plan_estimates.hpp"

namespace moesim::strategy {

using model::ActivationMode;
using model::ActivationPlan;
using nlohmann::json;

namespace {

constexpr double kGiB = config::units::kGibibyte;
constexpr const char* kFullLayersKey = "full_layers";
constexpr const char* kRecomputeLayersKey = "recompute_layers";
constexpr const char* kFullMethodKey = "full_method";

const config::StrategySpec* memory_spec(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kSelectiveRecomputeSwapName) return &spec;
  }
  return nullptr;
}

ActivationMode parse_mode(const std::string& text) {
  if (text == "recompute") return ActivationMode::Recompute;
  if (text == "swap") return ActivationMode::Swap;
  return ActivationMode::Keep;
}

// The modes written in the (already checked) params.
ActivationPlan pinned_plan(const json& params, const config::ParallelLayout& p, std::vector<std::string>* pinned) {
  ActivationPlan plan;
  plan.full_recompute_layers = layer_counts(params, kFullLayersKey, p);
  plan.module_recompute_layers = layer_counts(params, kRecomputeLayersKey, p);
  plan.uniform_groups = params.value(kFullMethodKey, std::string("block")) == "uniform";
  const auto modules = params.find("modules");
  if (modules == params.end() || !modules->is_object()) return plan;
  for (const auto& [module, mode] : modules->items()) {
    if (!mode.is_string()) continue;
    if (pinned) pinned->push_back(module);
    if (module == "full") {
      plan.full_recompute = mode.get<std::string>() == "recompute";
    } else {
      plan.modules[module] = parse_mode(mode.get<std::string>());
    }
  }
  return plan;
}

bool has_swap(const ActivationPlan& plan) {
  if (plan.full_recompute) return false;
  for (const auto& [module, mode] : plan.modules) {
    if (mode == ActivationMode::Swap) return true;
  }
  return false;
}

json modules_json(const ActivationPlan& plan) {
  json modules = json::object();
  for (const auto& module : model::selectable_activation_modules()) {
    const bool every_layer_full = plan.full_recompute && (plan.full_recompute_layers.empty() || plan.uniform_groups);
    modules[module] = model::to_string(every_layer_full ? ActivationMode::Recompute : plan.mode(module));
  }
  return modules;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  for (const auto& x : list) {
    if (x == item) return true;
  }
  return false;
}

// Full layer recompute on the fewest layers that make each pipeline stage fit: per stage, the smallest count of
// its virtual stages' first layers (the same count in each of its chunks) whose stage peak is within the target,
// all layers where none is (Megatron's block method with per-stage counts). A stage's memory depends on its own
// counts only, so the stages are chosen one by one.
ActivationPlan with_fewest_full_layers(const MemoryPlanEstimator& estimator, const ActivationPlan& plan,
                                       double target_bytes) {
  const auto& p = estimator.parallel();
  ActivationPlan trial = plan;
  trial.full_recompute = true;
  trial.full_recompute_layers.assign(static_cast<std::size_t>(p.vpp),
                                     std::vector<int>(static_cast<std::size_t>(p.pp), 0));
  bool every_layer = true;
  for (int s = 0; s < p.pp; ++s) {
    const int most = estimator.stage_layer_slots(s);
    int count = 0;
    auto set_count = [&](int n) {
      for (auto& row : trial.full_recompute_layers) row[static_cast<std::size_t>(s)] = n;
    };
    while (count < most && estimator.stage_peak_bytes(trial, s) > target_bytes) set_count(++count);
    every_layer = every_layer && count == most;
  }
  if (every_layer) trial.full_recompute_layers.clear();  // the same plan as full recompute everywhere
  return trial;
}

// Greedy choice: while the peak exceeds the target, take the (module, mode) with the most peak memory saved per
// second of estimated added time (a hidden swap costs nothing: the largest saving wins); full layer recompute of
// the fewest layers per stage as the last resort.
json choose(const MemoryPlanEstimator& estimator, ActivationPlan& plan, const std::vector<std::string>& pinned,
            double target_bytes) {
  json choices = json::array();
  std::vector<ActivationMode> modes = {ActivationMode::Recompute};
  if (estimator.can_swap()) modes.push_back(ActivationMode::Swap);
  double peak = estimator.peak_memory_bytes(plan);
  double cost = estimator.added_time_s(plan);
  while (peak > target_bytes) {
    struct Best {
      std::string module;
      ActivationMode mode = ActivationMode::Keep;
      double score = -1.0, saved = 0.0, peak = 0.0, cost = 0.0;
    } best;
    for (const auto& module : model::selectable_activation_modules()) {
      if (contains(pinned, module) || plan.mode(module) != ActivationMode::Keep) continue;
      for (ActivationMode mode : modes) {
        ActivationPlan trial = plan;
        trial.modules[module] = mode;
        const double trial_peak = estimator.peak_memory_bytes(trial);
        const double saved = peak - trial_peak;
        if (!(saved > 0.0)) continue;
        const double trial_cost = estimator.added_time_s(trial);
        const double added = trial_cost - cost;
        const double score = added > 1e-9 ? saved / added : std::numeric_limits<double>::max();
        if (score > best.score || (score == best.score && saved > best.saved)) {
          best = {module, mode, score, saved, trial_peak, trial_cost};
        }
      }
    }
    if (best.module.empty()) {
      if (contains(pinned, "full")) break;
      ActivationPlan trial = with_fewest_full_layers(estimator, plan, target_bytes);
      const double trial_peak = estimator.peak_memory_bytes(trial);
      if (!(trial_peak < peak)) break;
      best = {"full", ActivationMode::Recompute, 0.0, peak - trial_peak, trial_peak, estimator.added_time_s(trial)};
      plan = trial;
    } else {
      plan.modules[best.module] = best.mode;
    }
    choices.push_back({{"module", best.module},
                       {"mode", model::to_string(best.mode)},
                       {"peak_memory_saved_gib", best.saved / kGiB},
                       {"estimated_added_time_s", best.cost - cost}});
    if (best.module == "full") {  // the last resort: nothing is left to choose
      if (!plan.full_recompute_layers.empty())
        choices.back()["full_layers_per_stage"] = counts_json(plan.full_recompute_layers);
      break;
    }
    peak = best.peak;
    cost = best.cost;
  }
  return choices;
}

// Swap applies to a virtual stage only where its stage holds more than one micro-batch of that chunk at some point
// (otherwise the backward follows the forward at once and the copies could not hide).
std::vector<bool> swap_virtual_stages(const config::ParallelLayout& p,
                                      const std::vector<std::vector<PipelineTask>>& stage_orders) {
  std::vector<bool> allowed(static_cast<std::size_t>(p.pp * p.vpp), true);
  for (int s = 0; s < p.pp && static_cast<std::size_t>(s) < stage_orders.size(); ++s) {
    std::vector<int> live(static_cast<std::size_t>(p.vpp), 0), most(static_cast<std::size_t>(p.vpp), 0);
    for (const auto& task : stage_orders[static_cast<std::size_t>(s)]) {
      if (!task.forward && !task.releases()) continue;  // B alone frees nothing (W reads the layer inputs)
      auto& n = live[static_cast<std::size_t>(task.chunk)];
      n += task.forward ? 1 : -1;
      most[static_cast<std::size_t>(task.chunk)] = std::max(most[static_cast<std::size_t>(task.chunk)], n);
    }
    for (int c = 0; c < p.vpp; ++c)
      allowed[static_cast<std::size_t>(c * p.pp + s)] = most[static_cast<std::size_t>(c)] > 1;
  }
  return allowed;
}

}  // namespace

void check_selective_recompute_swap_params(config::ObjectReader& params) {
  const std::string mode = params.optional_choice("mode", {"manual", "auto"}).value_or("manual");
  if (auto modules = params.optional_object("modules")) {
    for (const auto& module : model::selectable_activation_modules()) {
      modules->optional_choice(module, {"keep", "recompute", "swap"});
    }
    modules->optional_choice("full", {"keep", "recompute"});
    modules->finish();
  } else if (mode == "manual" && params.valid()) {
    params.issues().error(params.child("modules"), "expected per-module modes (or \"mode\": \"auto\")");
  }
  const auto headroom = params.optional_number("headroom_gib", config::Range::NonNegative);
  if (headroom && mode != "auto") params.issues().error(params.child("headroom_gib"), "only with \"mode\": \"auto\"");
  check_layer_count_param(params, kFullLayersKey);
  check_layer_count_param(params, kRecomputeLayersKey);
  params.optional_choice(kFullMethodKey, {"block", "uniform"});
  params.finish();
}

void check_memory_strategy(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  const auto* spec = memory_spec(scenario);
  if (spec == nullptr) return;
  if (scenario.type != config::ScenarioType::Training) {
    issues.error(config::pointer_child(spec->pointer, "name"), std::string(kSelectiveRecomputeSwapName) +
                                                                   " applies to training; this scenario is " +
                                                                   config::to_string(scenario.type));
    return;
  }
  const json& params = spec->params;
  if (!params.is_object()) return;
  const std::string at = config::pointer_child(spec->pointer, "params");
  if (params.contains(kFullMethodKey) && !params.contains(kFullLayersKey)) {
    issues.error(config::pointer_child(at, kFullMethodKey),
                 "chooses how \"full_layers\" counts (block: the first n layers; uniform: groups of n): give "
                 "\"full_layers\"");
  }
  const bool automatic = params.value("mode", std::string("manual")) == "auto";
  const auto modules = params.find("modules");
  auto module_mode = [&](const std::string& module) -> std::string {
    if (modules == params.end() || !modules->is_object()) return "";
    const auto it = modules->find(module);
    return it != modules->end() && it->is_string() ? it->get<std::string>() : "";
  };
  for (const char* key : {kFullLayersKey, kRecomputeLayersKey}) {
    const auto it = params.find(key);
    if (it == params.end()) continue;
    const std::string pointer = config::pointer_child(at, key);
    check_layer_count_shape(*it, scenario.parallel, pointer, issues);
    if (std::string(key) == kFullLayersKey && module_mode("full") != "recompute") {
      issues.error(pointer, "limits full layer recompute: needs \"modules\": {\"full\": \"recompute\"}" +
                                std::string(automatic ? " (auto mode picks its own counts otherwise)" : ""));
    }
    if (std::string(key) == kFullLayersKey && params.value(kFullMethodKey, std::string()) == "uniform") {
      const auto counts = all_counts(*it);
      const bool zero = std::any_of(counts.begin(), counts.end(), [](long long n) { return n == 0; });
      if (zero) issues.error(pointer, "with \"full_method\": \"uniform\" a count is a group size: expected >= 1");
    }
    if (std::string(key) == kRecomputeLayersKey && !automatic) {
      bool any = false;
      for (const auto& module : model::selectable_activation_modules()) any = any || module_mode(module) == "recompute";
      if (!any) issues.error(pointer, "limits the per-module recompute modes: no module has \"recompute\"");
    }
  }
}

MemoryPlan resolve_memory_plan(const config::ScenarioConfig& scenario,
                               const std::vector<std::vector<PipelineTask>>& stage_orders) {
  MemoryPlan out;
  const auto* spec = memory_spec(scenario);
  if (spec == nullptr || !scenario.training || !scenario.model) return out;
  const json& params = spec->params;
  const bool automatic = params.value("mode", std::string("manual")) == "auto";
  std::vector<std::string> pinned;
  out.plan = pinned_plan(params, scenario.parallel, &pinned);
  out.plan.swap_virtual_stages = swap_virtual_stages(scenario.parallel, stage_orders);
  const MemoryPlanEstimator estimator(scenario, stage_orders);
  if (has_swap(out.plan) && !estimator.can_swap()) {
    throw std::invalid_argument(std::string(kSelectiveRecomputeSwapName) +
                                ": swap needs the device's host_link_bandwidth_gb_per_s in the topology");
  }
  json& r = out.report;
  r["mode"] = automatic ? "auto" : "manual";
  if (automatic) {
    const double headroom_gib = params.value("headroom_gib", 0.0);
    const double target = estimator.capacity_bytes() - headroom_gib * kGiB;
    const double before = estimator.peak_memory_bytes(out.plan);
    r["headroom_gib"] = headroom_gib;
    r["target_gib"] = target / kGiB;
    r["peak_memory_before_gib"] = before / kGiB;
    r["choices"] = choose(estimator, out.plan, pinned, target);
    const double after = estimator.peak_memory_bytes(out.plan);
    r["peak_memory_after_gib"] = after / kGiB;
    r["fits"] = after <= target;
  }
  r["modules"] = modules_json(out.plan);
  r["full_recompute"] = out.plan.full_recompute;
  if (out.plan.full_recompute && !out.plan.full_recompute_layers.empty()) {
    r[out.plan.uniform_groups ? "full_group_layers_per_stage" : "full_layers_per_stage"] =
        counts_json(out.plan.full_recompute_layers);
  }
  if (!out.plan.module_recompute_layers.empty())
    r["recompute_layers_per_stage"] = counts_json(out.plan.module_recompute_layers);
  r["estimated_activation_saved_fraction"] = estimator.activation_saved_fraction(out.plan);
  r["estimated_added_time_s"] = estimator.added_time_s(out.plan);
  return out;
}

std::string plan_text(const ActivationPlan& plan) {
  std::string text;
  if (plan.full_recompute && plan.uniform_groups) return "full recompute" + groups_text(plan.full_recompute_layers);
  if (plan.full_recompute) {
    text = "full recompute" + counts_text(plan.full_recompute_layers);
    if (plan.full_recompute_layers.empty()) return text;
  }
  std::string modules;
  for (const auto& module : model::selectable_activation_modules()) {
    const ActivationMode mode = plan.mode(module);
    if (mode == ActivationMode::Keep) continue;
    modules += (modules.empty() ? "" : ", ") + module + ":" + model::to_string(mode);
  }
  const bool recomputes = std::any_of(plan.modules.begin(), plan.modules.end(),
                                      [](const auto& m) { return m.second == ActivationMode::Recompute; });
  if (recomputes) modules += counts_text(plan.module_recompute_layers);  // the counts limit recompute modes only
  if (!text.empty() && !modules.empty()) return text + "; others " + modules;
  if (!text.empty()) return text;
  return modules.empty() ? "keep all" : modules;
}

}  // namespace moesim::strategy

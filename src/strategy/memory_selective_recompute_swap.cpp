#include "strategy/memory_selective_recompute_swap.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "config/units.hpp"
#include "strategy/memory_plan_estimates.hpp"

namespace moesim::strategy {

using model::ActivationMode;
using model::ActivationPlan;
using nlohmann::json;

namespace {

constexpr double kGiB = config::units::kGibibyte;

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
ActivationPlan pinned_plan(const json& params, std::vector<std::string>* pinned) {
  ActivationPlan plan;
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
    modules[module] = model::to_string(plan.full_recompute ? ActivationMode::Recompute : plan.mode(module));
  }
  return modules;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  for (const auto& x : list) {
    if (x == item) return true;
  }
  return false;
}

// Greedy choice: while the peak exceeds the target, take the (module, mode) with the most peak memory saved per
// second of estimated added time (a hidden swap costs nothing: the largest saving wins); full layer recompute as
// the last resort.
json choose(const MemoryPlanEstimator& estimator, ActivationPlan& plan, const std::vector<std::string>& pinned,
            double target_bytes) {
  json choices = json::array();
  std::vector<ActivationMode> modes = {ActivationMode::Recompute};
  if (estimator.can_swap()) modes.push_back(ActivationMode::Swap);
  double peak = estimator.peak_memory_bytes(plan);
  double cost = estimator.added_time_s(plan);
  while (peak > target_bytes && !plan.full_recompute) {
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
      ActivationPlan trial = plan;
      trial.full_recompute = true;
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
  params.finish();
}

void check_memory_strategy(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  const auto* spec = memory_spec(scenario);
  if (spec && scenario.type != config::ScenarioType::Training) {
    issues.error(config::pointer_child(spec->pointer, "name"), std::string(kSelectiveRecomputeSwapName) +
                                                                   " applies to training; this scenario is " +
                                                                   config::to_string(scenario.type));
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
  out.plan = pinned_plan(params, &pinned);
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
  r["estimated_activation_saved_fraction"] = estimator.activation_saved_fraction(out.plan);
  r["estimated_added_time_s"] = estimator.added_time_s(out.plan);
  return out;
}

std::string plan_text(const ActivationPlan& plan) {
  if (plan.full_recompute) return "full recompute";
  std::string text;
  for (const auto& module : model::selectable_activation_modules()) {
    const ActivationMode mode = plan.mode(module);
    if (mode == ActivationMode::Keep) continue;
    text += (text.empty() ? "" : ", ") + module + ":" + model::to_string(mode);
  }
  return text.empty() ? "keep all" : text;
}

}  // namespace moesim::strategy

#include "strategy/kernel_matmul_retiling.hpp"

#include <sstream>

namespace moesim::strategy {
namespace {

// Not fused_grouped_matmul: SwiftGMM's fused kernel has its own measured efficiencies (inference, facts P12).
constexpr config::OpClass kGemmClasses[] = {config::OpClass::Matmul, config::OpClass::GroupedMatmul};

double gain_of(const nlohmann::json& params, const char* key, double fallback) {
  if (!params.is_object() || !params.contains(key) || !params.at(key).is_number()) return fallback;
  return params.at(key).get<double>();
}

std::string percent(double fraction) {
  std::ostringstream out;
  out << 100.0 * fraction;
  return out.str();
}

void raise(config::SourcedValue& value, double gain, const char* what) {
  if (gain == 0.0) return;
  value.value *= 1.0 + gain;
  value.source += "; x (1 + " + percent(gain) + " %) by matmul_retiling (" + what + ", [P] section 4.1, facts T14)";
}

}  // namespace

void check_matmul_retiling_params(config::ObjectReader& params) {
  params.optional_number("cube_utilization_gain", config::Range::NonNegative);
  params.optional_number("hbm_tiling_gain", config::Range::NonNegative);
  params.finish();
}

MatmulRetilingGains matmul_retiling_gains(const nlohmann::json& params) {
  const MatmulRetilingGains defaults;
  return {gain_of(params, "cube_utilization_gain", defaults.cube_utilization_gain),
          gain_of(params, "hbm_tiling_gain", defaults.hbm_tiling_gain)};
}

void check_matmul_retiling_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                  config::IssueCollector& issues) {
  const auto gains = matmul_retiling_gains(spec.params);
  const auto& device = scenario.topology.device;
  auto check = [&](double efficiency, double gain, const std::string& what, const char* key) {
    const double raised = efficiency * (1.0 + gain);
    if (raised <= 1.0) return;
    std::ostringstream message;
    message << "matmul_retiling would raise the device's " << what << " efficiency " << efficiency << " to " << raised
            << " (above 1, the peak): lower " << key << " or the device file's factor";
    issues.error(config::pointer_child(spec.pointer, "params"), message.str());
  };
  for (auto op_class : kGemmClasses) {
    if (!device.has_efficiency(op_class)) continue;
    const auto& eff = device.efficiency[static_cast<std::size_t>(op_class)];
    const auto name = to_string(op_class);
    check(eff.compute.value, gains.cube_utilization_gain, name + " compute", "cube_utilization_gain");
    if (eff.compute_int8)
      check(eff.compute_int8->value, gains.cube_utilization_gain, name + " compute_int8", "cube_utilization_gain");
    check(eff.memory.value, gains.hbm_tiling_gain, name + " memory", "hbm_tiling_gain");
  }
}

void apply_matmul_retiling(config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name != kMatmulRetilingName) continue;
    const auto gains = matmul_retiling_gains(spec.params);
    auto& device = scenario.topology.device;
    for (auto op_class : kGemmClasses) {
      if (!device.has_efficiency(op_class)) continue;
      auto& eff = device.efficiency[static_cast<std::size_t>(op_class)];
      raise(eff.compute, gains.cube_utilization_gain, "L1->L0 block retiling");
      if (eff.compute_int8) raise(*eff.compute_int8, gains.cube_utilization_gain, "L1->L0 block retiling");
      raise(eff.memory, gains.hbm_tiling_gain, "HBM-aware tiling");
    }
    return;
  }
}

}  // namespace moesim::strategy

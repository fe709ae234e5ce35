#include "strategy/kernel_matmul_retiling.hpp"

#include <sstream>

namespace moesim::strategy {

namespace {

constexpr const char* kRaisedMark = "by matmul_retiling";  // in the source text of every raised value

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

// Calls visit(value, gain, what, param, technique) for every efficiency the strategy raises, in a fixed order;
// `Device` is DeviceSpec or const DeviceSpec, so checking and applying walk the same list.
template <class Device, class Visit>
void for_each_raised_factor(Device& device, const MatmulRetilingGains& gains, Visit visit) {
  const char* cube = "cube_utilization_gain";
  const char* hbm = "hbm_tiling_gain";
  for (auto op_class : kGemmClasses) {
    if (!device.has_efficiency(op_class)) continue;
    auto& eff = device.efficiency[static_cast<std::size_t>(op_class)];
    const auto name = to_string(op_class);
    visit(eff.compute, gains.cube_utilization_gain, name + " compute", cube, "L1->L0 block retiling");
    if (eff.compute_int8)
      visit(*eff.compute_int8, gains.cube_utilization_gain, name + " compute_int8", cube, "L1->L0 block retiling");
    visit(eff.memory, gains.hbm_tiling_gain, name + " memory", hbm, "HBM-aware tiling");
  }
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
  for_each_raised_factor(scenario.topology.device, matmul_retiling_gains(spec.params),
                         [&](const config::SourcedValue& value, double gain, const std::string& what,
                             const char* param, const char*) {
                           const double raised = value.value * (1.0 + gain);
                           if (raised <= 1.0) return;
                           std::ostringstream message;
                           message << "matmul_retiling would raise the device's " << what << " efficiency "
                                   << value.value << " to " << raised << " (above 1, the peak): lower " << param
                                   << " or the device file's factor";
                           issues.error(config::pointer_child(spec.pointer, "params"), message.str());
                         });
}

bool raised_by_matmul_retiling(const config::SourcedValue& value) {
  return value.source.find(kRaisedMark) != std::string::npos;
}

void apply_matmul_retiling(config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name != kMatmulRetilingName) continue;
    for_each_raised_factor(scenario.topology.device, matmul_retiling_gains(spec.params),
                           [](config::SourcedValue& value, double gain, const std::string&, const char*,
                              const char* technique) {
                             if (gain == 0.0) return;
                             value.value *= 1.0 + gain;
                             value.source += "; x (1 + " + percent(gain) + " %) " + kRaisedMark + " (" + technique +
                                             ", [P] section 4.1, facts T14)";
                           });
    return;
  }
}

}  // namespace moesim::strategy

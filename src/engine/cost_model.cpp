#include "engine/cost_model.hpp"

#include <algorithm>
#include <stdexcept>

namespace moesim::engine {

namespace {

double positive(double value, const std::string& what) {
  if (!(value > 0.0)) throw std::invalid_argument("cost model: " + what + " must be > 0");
  return value;
}

}  // namespace

RooflineTerms roofline_terms(const config::DeviceSpec& device, const model::ComputeCost& cost) {
  const auto& eff = device.efficiency[static_cast<std::size_t>(cost.op_class)];
  const std::string cls = config::to_string(cost.op_class);
  if (!device.has_efficiency(cost.op_class)) {
    throw std::invalid_argument("device \"" + device.name + "\" has no efficiency for operator class " + cls +
                                " (topology: device.efficiency." + cls + ")");
  }
  RooflineTerms terms;
  if (cost.flops > 0.0) {
    const double peak = positive(device.peak(cost.dtype), "peak flop/s for " + config::to_string(cost.dtype));
    terms.compute_s = cost.flops / (peak * positive(eff.compute_for(cost.dtype).value, "compute efficiency of " + cls));
  }
  if (cost.bytes > 0.0) {
    const double bw = positive(device.memory_bandwidth_bytes_per_s.value, "memory bandwidth");
    terms.memory_s = cost.bytes / (bw * positive(eff.memory.value, "memory efficiency of " + cls));
  }
  return terms;
}

double op_time_s(const config::DeviceSpec& device, const model::ComputeCost& cost) {
  const RooflineTerms terms = roofline_terms(device, cost);
  return std::max(terms.compute_s, terms.memory_s) + device.launch_overhead_s.value;
}

double host_speed_flops(const config::DeviceSpec& device) {
  for (config::Dtype dtype : {config::Dtype::BF16, config::Dtype::FP16}) {
    auto it = device.peak_flops.find(dtype);
    if (it != device.peak_flops.end() && it->second.value > 0.0) return it->second.value;
  }
  if (!device.peak_flops.empty()) {
    const double v = device.peak_flops.begin()->second.value;
    if (v > 0.0) return v;
  }
  throw std::invalid_argument("device '" + device.name + "' has no positive peak flop/s");
}

}  // namespace moesim::engine

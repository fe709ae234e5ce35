#include "model/roofline.hpp"

#include <algorithm>
#include <stdexcept>

namespace moesim::model {

namespace {

double positive(double value, const std::string& what) {
  if (!(value > 0.0)) throw std::invalid_argument("cost model: " + what + " must be > 0");
  return value;
}

}  // namespace

RooflineTerms roofline_terms(const config::DeviceSpec& device, const ComputeCost& cost) {
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

double op_time_s(const config::DeviceSpec& device, const ComputeCost& cost) {
  const RooflineTerms terms = roofline_terms(device, cost);
  return std::max(terms.compute_s, terms.memory_s) + (cost.launched ? device.launch_overhead_s.value : 0.0);
}

}  // namespace moesim::model

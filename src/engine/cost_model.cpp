#include "engine/cost_model.hpp"

#include <stdexcept>

namespace moesim::engine {

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

#pragma once
// What `moesim describe-topology` prints: the cluster shape, the device's sourced numbers and the fabrics,
// each number in the unit of its JSON key, with its source (or "estimate" and the reason).
#include <nlohmann/json.hpp>
#include <string>

#include "config/topology_config.hpp"

namespace moesim::config {

// One JSON object: name, file, counts, device (peaks, memory, efficiencies), fabrics, routing.
nlohmann::json topology_summary_json(const TopologyConfig& topology);

// The same content as aligned text lines, ending with a newline.
std::string topology_summary_text(const TopologyConfig& topology);

}  // namespace moesim::config

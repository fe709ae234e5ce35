#pragma once
// Roofline cost of one operator on one rank (model/roofline: one home for the formula, shared with strategies that
// estimate costs before simulating) and the host speed SimGrid runs compute at.
#include "config/topology_config.hpp"
#include "model/op_graph.hpp"
#include "model/roofline.hpp"

namespace moesim::engine {

using model::op_time_s;
using model::roofline_terms;
using model::RooflineTerms;

// The host speed given to SimGrid for a rank: peak dense fp16/bf16 flop/s (bf16 first).
double host_speed_flops(const config::DeviceSpec& device);

}  // namespace moesim::engine

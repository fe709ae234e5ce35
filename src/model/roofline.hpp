#pragma once
// Roofline cost of one operator on one rank: the slower of its compute time at the class's achieved fraction of
// peak and its memory time at the class's achieved fraction of HBM bandwidth, plus a fixed launch overhead.
// Pure arithmetic: the engine times compute ops with it, and strategies use it to estimate what a choice costs
// before simulating (e.g. the memory strategy's auto mode). The efficiency factors and their sources live in the
// topology file.
#include "config/topology_config.hpp"
#include "model/op_graph.hpp"

namespace moesim::model {

// Contract: time_s = max(flops / (peak(dtype) * eff_compute(class)), bytes / (hbm_bw * eff_memory(class)))
//                    + launch_overhead_s (not when !cost.launched).  Throws std::invalid_argument if the device lacks a
//                    peak for the dtype or an efficiency/bandwidth is not positive.
double op_time_s(const config::DeviceSpec& device, const ComputeCost& cost);

// The two roofline terms separately (without launch overhead), for breakdowns and tests.
struct RooflineTerms {
  double compute_s = 0.0;
  double memory_s = 0.0;
  bool memory_bound() const { return memory_s > compute_s; }
};
RooflineTerms roofline_terms(const config::DeviceSpec& device, const ComputeCost& cost);

}  // namespace moesim::model

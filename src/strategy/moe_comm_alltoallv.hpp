#pragma once
// moe_comm "alltoallv": dispatch and combine as one AllToAllV of the routed token-expert rows over the whole
// expert-parallel group each way (Megatron-core alltoall token dispatcher). The default.
#include "strategy/moe_comm.hpp"

namespace moesim::strategy {

inline constexpr const char* kAllToAllVName = "alltoallv";
inline constexpr const char* kAllToAllVDescription =
    "MoE dispatch/combine as one AllToAllV of the routed token-expert rows over the expert-parallel group "
    "(Megatron-core alltoall token dispatcher); the default";

class AllToAllVComm final : public MoeCommStrategy {
 public:
  std::string name() const override { return kAllToAllVName; }
  model::MoeCommPlan plan(const config::ScenarioConfig& scenario) const override;
};

}  // namespace moesim::strategy

// Training step builder: data-parallel gradient reduce-scatter (ZeRO-1), gradient-norm all-reduce, optimizer step and
// parameter all-gather, with the DP-symmetry reduction's volume scaling.
#include "strategy/training_step_builder_internal.hpp"

namespace moesim::strategy::training_step_detail {

void Builder::dp_collective(int stage, const std::string& name, CollectiveKind kind, double elements_per_rank,
                            config::Dtype dtype, bool expert, std::vector<OpId>* ids_out) {
  using L = model::TrainingLayout;
  const auto all = layout_.stage_groups(stage, expert ? &L::expert_dp_group : &L::dense_dp_group);
  if (all.empty() || all.front().size() < 2 || elements_per_rank <= 0.0) return;
  const int simulated = static_cast<int>(all.front().size());
  const double full_groups = expert ? double(p_.tp) * p_.cp * p_.dp / (double(p_.expert_parallel_size()) * p_.expert_tp)
                                    : double(p_.dp) * p_.cp;
  const double scale = dp_volume_scale(static_cast<int>(full_groups), simulated);
  for (const auto& ranks : all) {
    Collective c;
    c.kind = kind;
    c.ranks = ranks;
    c.dtype = dtype;
    // nccl-tests size: ReduceScatter input / AllGather output = the whole buffer = shard x group size
    c.elements = elements_per_rank * scale;
    std::vector<std::vector<OpId>> deps;
    for (int r : ranks) deps.push_back(member_deps(r));
    auto ids = add_collective(name, "dp_comm", std::move(c), std::vector<int>(ranks.size(), kDpComm), deps);
    // Reduction: a ring of `simulated` members takes full - simulated fewer latency steps; add them back.
    const double missing_s = (full_groups - simulated) * ring_step_latency_s(scenario_.topology, ranks);
    if (missing_s > 0.0) {
      for (std::size_t m = 0; m < ranks.size(); ++m) {
        Op delay;
        delay.name = name + "_lat";
        delay.phase = "dp_comm";
        delay.kind = model::OpKind::Delay;
        delay.rank = ranks[m];
        delay.stream = kDpComm;
        delay.delay_s = missing_s;
        delay.deps = {ids[m]};
        ids[m] = graph_.add(std::move(delay));
      }
    }
    if (ids_out) ids_out->insert(ids_out->end(), ids.begin(), ids.end());
  }
}

// Gradient clipping needs the global gradient norm: one fp32 AllReduce over each pipeline group after the rank's
// gradient reduce-scatters (the data-parallel part of the norm is already summed by them). The optimizer
// therefore starts only when every stage has finished its backward, as in Megatron.
void Builder::grad_norm_sync() {
  if (p_.pp < 2) return;
  for (int r : layout_.stage_ranks(0)) {
    Collective c;
    c.kind = CollectiveKind::AllReduce;
    c.dtype = config::Dtype::FP32;
    c.elements = 1.0;
    std::vector<OpId> all;  // every member waits for all of them: the wait is idle time, not communication
    for (int s = 0; s < p_.pp; ++s) {
      const int member = layout_.at_stage(r, s);
      c.ranks.push_back(member);
      const auto deps = member_deps(member);
      all.insert(all.end(), deps.begin(), deps.end());
      const auto& syncs = grad_syncs_[member];
      all.insert(all.end(), syncs.begin(), syncs.end());
    }
    const auto members = c.ranks;
    const auto ids = add_collective("grad_norm_ar", "dp_comm", std::move(c), std::vector<int>(members.size(), kDpComm),
                                    std::vector<std::vector<OpId>>(members.size(), all));
    for (std::size_t m = 0; m < members.size(); ++m) grad_syncs_[members[m]].push_back(ids[m]);
  }
}

// ZeRO-1: the chunk's fp32 gradients are reduce-scattered as soon as its last backward is done.
void Builder::gradient_sync(int stage, int virtual_stage) {
  const auto& params = lists_[static_cast<std::size_t>(virtual_stage)].params;
  std::vector<OpId> ids;
  dp_collective(stage, "grad_rs", CollectiveKind::ReduceScatter, params.dense, config::Dtype::FP32, false, &ids);
  dp_collective(stage, "expert_grad_rs", CollectiveKind::ReduceScatter, params.expert, config::Dtype::FP32, true, &ids);
  for (OpId id : ids) grad_syncs_[graph_.ops[static_cast<std::size_t>(id)].rank].push_back(id);
}

void Builder::optimizer_step(int stage) {
  double dense = 0.0, expert = 0.0;
  for (const auto& vs : stages_) {
    if (vs.stage != stage) continue;
    dense += lists_[static_cast<std::size_t>(vs.chunk * p_.pp + stage)].params.dense;
    expert += lists_[static_cast<std::size_t>(vs.chunk * p_.pp + stage)].params.expert;
  }
  const double expert_shards = double(p_.tp) * p_.cp * p_.dp / (double(p_.expert_parallel_size()) * p_.expert_tp);
  const double shard = dense / (double(p_.dp) * p_.cp) + expert / expert_shards;
  const model::ComputeCost cost{config::OpClass::Vector, shape_.dtype, kOptimizerFlopsPerParam * shard,
                                kOptimizerBytesPerParam * shard};
  for (int r : layout_.stage_ranks(stage)) {
    auto& deps = pending_[static_cast<std::size_t>(r)];
    auto it = grad_syncs_.find(r);
    if (it != grad_syncs_.end()) deps.insert(deps.end(), it->second.begin(), it->second.end());
    add_compute(r, "optimizer", "optimizer", cost);
  }
  const bool per_stage = scenario_.training->overlap_param_gather;
  std::vector<OpId> gathers;
  for (const auto& vs : stages_) {  // updated bf16 parameters back to every replica
    if (vs.stage != stage) continue;
    const int virtual_stage = vs.chunk * p_.pp + stage;
    const auto& params = lists_[static_cast<std::size_t>(virtual_stage)].params;
    auto& into = per_stage ? param_gathers_[virtual_stage] : gathers;
    dp_collective(stage, "param_ag", CollectiveKind::AllGather, params.dense, shape_.dtype, false, &into);
    dp_collective(stage, "expert_param_ag", CollectiveKind::AllGather, params.expert, shape_.dtype, true, &into);
  }
  // without overlap_param_gather a next step's first op on the rank waits for them all
  for (OpId id : gathers)
    pending_[static_cast<std::size_t>(graph_.ops[static_cast<std::size_t>(id)].rank)].push_back(id);
}

}  // namespace moesim::strategy::training_step_detail

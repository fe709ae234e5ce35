#include "model/inference_step_builder.hpp"

#include "model/microbenchmark_graph.hpp"

namespace moesim::model::detail {

StepBuilder::StepBuilder(int ranks, HostCosts host)
    : host_(host),
      host_tail_(static_cast<std::size_t>(ranks), -1),
      pending_(static_cast<std::size_t>(ranks)),
      last_(static_cast<std::size_t>(ranks), -1) {
  graph_.num_ranks = ranks;
  if (host_.any()) host_delay("step_overhead", host_.step_overhead_s);
}

void StepBuilder::host_delay(const std::string& name, double seconds) {
  for (int rank = 0; rank < graph_.num_ranks; ++rank) {
    Op op;
    op.name = name;
    op.phase = "host";
    op.kind = OpKind::Delay;
    op.rank = rank;
    op.stream = kHostStream;
    op.delay_s = seconds;
    host_tail_[static_cast<std::size_t>(rank)] = graph_.add(std::move(op));
  }
}

OpId StepBuilder::dispatch(int rank, const std::string& name, double seconds) {
  const auto r = static_cast<std::size_t>(rank);
  if (!host_.any()) return host_tail_[r];
  Op op;
  op.name = "dispatch." + name;
  op.phase = "host";
  op.kind = OpKind::Delay;
  op.rank = rank;
  op.stream = kHostStream;
  op.delay_s = seconds;
  host_tail_[r] = graph_.add(std::move(op));
  return host_tail_[r];
}

OpId StepBuilder::compute(int rank, const std::string& name, const std::string& phase, ComputeCost cost,
                          bool dispatched) {
  const auto r = static_cast<std::size_t>(rank);
  const OpId issued = dispatched ? dispatch(rank, name, host_.op_dispatch_s) : host_tail_[r];
  Op op;
  op.name = name;
  op.phase = phase;
  op.kind = OpKind::Compute;
  op.rank = rank;
  op.stream = kComputeStream;
  op.compute = cost;
  op.deps = std::move(pending_[r]);
  pending_[r].clear();
  if (issued >= 0) op.deps.push_back(issued);
  last_[r] = graph_.add(std::move(op));
  return last_[r];
}

std::vector<OpId> StepBuilder::collective(const std::string& name, const std::string& phase, Collective collective,
                                          CollectiveOptions options) {
  std::vector<std::vector<OpId>> deps;
  for (int rank : collective.ranks) {
    const auto r = static_cast<std::size_t>(rank);
    std::vector<OpId> member;
    if (last_[r] >= 0) member.push_back(last_[r]);
    const OpId issued = options.dispatched ? dispatch(rank, name, host_.collective_dispatch_s) : host_tail_[r];
    if (issued >= 0) member.push_back(issued);
    deps.push_back(std::move(member));
  }
  const auto ranks = collective.ranks;
  const auto ops = graph_.add_collective_ops(name, phase, std::move(collective), kCommStream, deps);
  if (!options.async) {
    for (std::size_t i = 0; i < ranks.size(); ++i) pending_[static_cast<std::size_t>(ranks[i])].push_back(ops[i]);
  }
  return ops;
}

void StepBuilder::wait_for(int rank, OpId op) {
  pending_[static_cast<std::size_t>(rank)].push_back(op);
}

ComputeCost matmul_cost(const StepDtypes& d, double tokens, double params_local, double in, double out,
                        OpClass op_class) {
  return {op_class, d.gemm, 2.0 * tokens * params_local,
          params_local * d.weight_bytes + tokens * (in + out) * d.act_bytes};
}

ComputeCost vector_cost(const StepDtypes& d, double tokens, double elements_per_token) {
  return {OpClass::Vector, Dtype::FP16, 5.0 * tokens * elements_per_token,
          2.0 * tokens * elements_per_token * d.act_bytes};
}

}  // namespace moesim::model::detail

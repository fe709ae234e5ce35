#include "model/inference_step_builder.hpp"

#include "model/microbenchmark_graph.hpp"

namespace moesim::model::detail {

StepBuilder::StepBuilder(int ranks)
    : pending_(static_cast<std::size_t>(ranks)), last_(static_cast<std::size_t>(ranks), -1) {
  graph_.num_ranks = ranks;
}

void StepBuilder::compute(int rank, const std::string& name, const std::string& phase, ComputeCost cost) {
  const auto r = static_cast<std::size_t>(rank);
  Op op;
  op.name = name;
  op.phase = phase;
  op.kind = OpKind::Compute;
  op.rank = rank;
  op.stream = kComputeStream;
  op.compute = cost;
  op.deps = std::move(pending_[r]);
  pending_[r].clear();
  last_[r] = graph_.add(std::move(op));
}

void StepBuilder::collective(const std::string& name, const std::string& phase, Collective collective) {
  std::vector<std::vector<OpId>> deps;
  for (int rank : collective.ranks) {
    const OpId last = last_[static_cast<std::size_t>(rank)];
    deps.push_back(last >= 0 ? std::vector<OpId>{last} : std::vector<OpId>{});
  }
  const auto ranks = collective.ranks;
  const auto ops = graph_.add_collective_ops(name, phase, std::move(collective), kCommStream, deps);
  for (std::size_t i = 0; i < ranks.size(); ++i) pending_[static_cast<std::size_t>(ranks[i])].push_back(ops[i]);
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

#include "model/moe_dispatch_blocks.hpp"

#include <string>

namespace moesim::model {

namespace {

BlockOp ep_collective(const std::string& name, CollectiveKind kind, GroupKind group, double elements,
                      const TrainingShape& shape) {
  BlockOp op;
  if (kind == CollectiveKind::AllToAllV) op.expert_flow = name == "dispatch" ? 1 : -1;
  op.name = name;
  op.phase = "ep_comm";
  op.collective = true;
  op.kind = kind;
  op.group = group;
  op.elements = elements;
  op.dtype = shape.dtype;
  return op;
}

}  // namespace

MoeCommOps moe_comm_ops(const config::ModelConfig& model, const TrainingShape& shape) {
  MoeCommOps ops;
  if (!model.moe || shape.ep_size <= 1) return ops;
  const double h = model.hidden;
  const double tokens = shape.tokens_moe();
  const double rows = tokens * model.moe->top_k;  // token-expert rows a rank routes (and, balanced, receives)
  const auto& plan = shape.moe_comm;
  if (plan.dispatch == MoeDispatch::AllToAllV) {
    ops.dispatch.push_back(ep_collective("dispatch", CollectiveKind::AllToAllV, GroupKind::Ep, rows * h, shape));
    ops.combine.push_back(ep_collective("combine", CollectiveKind::AllToAllV, GroupKind::Ep, rows * h, shape));
    return ops;
  }
  // nccl-tests sizes: AllGather output / ReduceScatter input = the outer x T tokens of the whole outer group.
  const double gathered = plan.outer * tokens * h;
  if (plan.outer > 1) {
    ops.gather.push_back(ep_collective("ep_ag", CollectiveKind::AllGather, GroupKind::EpOuter, gathered, shape));
    ops.reduce.push_back(ep_collective("ep_rs", CollectiveKind::ReduceScatter, GroupKind::EpOuter, gathered, shape));
  }
  if (plan.inner > 1) {
    ops.dispatch.push_back(ep_collective("dispatch", CollectiveKind::AllToAllV, GroupKind::EpInner, rows * h, shape));
    ops.combine.push_back(ep_collective("combine", CollectiveKind::AllToAllV, GroupKind::EpInner, rows * h, shape));
  }
  return ops;
}

double moe_dispatch_activation_bytes(const config::ModelConfig& model, const TrainingShape& shape) {
  if (!model.moe || shape.ep_size <= 1 || shape.moe_comm.dispatch != MoeDispatch::HierarchicalEp) return 0.0;
  const double gathered_tokens = shape.moe_comm.outer * shape.tokens_moe();
  constexpr double kScoreBytes = 4.0, kIndexBytes = 8.0;
  return gathered_tokens *
         (model.hidden * config::bytes_per_element(shape.dtype) + model.moe->top_k * (kScoreBytes + kIndexBytes));
}

}  // namespace moesim::model

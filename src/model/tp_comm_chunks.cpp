#include "model/tp_comm_chunks.hpp"

namespace moesim::model {

namespace {

bool tp_collective(const BlockOp& op, CollectiveKind kind) {
  return op.collective && op.host_copy == HostCopy::None && op.group == GroupKind::Tp && op.kind == kind &&
         !op.chunked;
}

bool shared_expert(const BlockOp& op) {
  return module_of(op).rfind("shared_", 0) == 0;
}

BlockOp chunk_of(const BlockOp& op, int k, int chunks) {
  BlockOp c = op;
  c.name += "#c" + std::to_string(k);
  c.chunked = true;
  const double n = chunks;
  if (op.collective) {
    c.chunk_async = true;
    c.elements = op.elements / n;
  } else {
    c.cost.flops = op.cost.flops / n;
    c.cost.bytes = op.weight_bytes + (op.cost.bytes - op.weight_bytes) / n;
  }
  return c;
}

}  // namespace

std::vector<BlockOp> chunk_tp_collectives(const std::vector<BlockOp>& ops, const TpChunking& plan) {
  if (plan.chunks <= 1) return ops;
  const int n = plan.chunks;
  std::vector<BlockOp> out;
  out.reserve(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const bool gather = i + 1 < ops.size() && tp_collective(ops[i], CollectiveKind::AllGather) &&
                        unchunked_dense_matmul(ops[i + 1]);
    const std::size_t mm = gather ? i + 1 : i;
    const bool reduce = mm + 1 < ops.size() && unchunked_dense_matmul(ops[mm]) &&
                        (tp_collective(ops[mm + 1], CollectiveKind::ReduceScatter) ||
                         tp_collective(ops[mm + 1], CollectiveKind::AllReduce));
    if ((!gather && !reduce) || (!plan.shared_experts && shared_expert(ops[mm]))) {
      out.push_back(ops[i]);
      continue;
    }
    const std::size_t first_gather = out.size();
    if (gather) {
      for (int k = 0; k < n; ++k) out.push_back(chunk_of(ops[i], k, n));
    }
    for (int k = 0; k < n; ++k) {
      BlockOp m = chunk_of(ops[mm], k, n);
      m.cost.launched = ops[mm].cost.launched && (k == 0 || !plan.fused_kernel);
      if (gather) m.chunk_input_back = static_cast<long>(out.size()) - (static_cast<long>(first_gather) + k);
      out.push_back(std::move(m));
      if (reduce) out.push_back(chunk_of(ops[mm + 1], k, n));
    }
    i = reduce ? mm + 1 : mm;
  }
  return out;
}

}  // namespace moesim::model

#include "model/column_parallel_backward.hpp"

#include <string>

namespace moesim::model {

namespace {

bool dx_reduction(const BlockOp& op) {
  return op.collective && op.group == GroupKind::Tp && !op.chunked &&
         (op.kind == CollectiveKind::ReduceScatter || op.kind == CollectiveKind::AllReduce);
}

// The dw op of a dx matmul ("attn_in_b" -> "attn_in_w"), or npos.
std::size_t weight_op(const std::vector<BlockOp>& dw, const std::string& dx_name) {
  if (dx_name.size() < 2 || dx_name.compare(dx_name.size() - 2, 2, "_b") != 0) return std::string::npos;
  const std::string name = dx_name.substr(0, dx_name.size() - 2) + "_w";
  for (std::size_t i = 0; i < dw.size(); ++i) {
    if (dw[i].name == name) return i;
  }
  return std::string::npos;
}

// The input's AllGather that dW needs with sequence parallelism: the size of the dX ReduceScatter (T x h).
BlockOp input_gather(const BlockOp& reduction, const std::string& matmul_name) {
  BlockOp ag = reduction;
  ag.kind = CollectiveKind::AllGather;
  ag.name = matmul_name.substr(0, matmul_name.size() - 2) + "_input_ag";
  return ag;
}

}  // namespace

SlotBackward column_parallel_backward(const std::vector<BlockOp>& dx, const std::vector<BlockOp>& dw,
                                      bool sequence_parallel) {
  SlotBackward out;
  std::vector<char> moved(dw.size(), 0);
  std::vector<char> column(dw.size(), 0);
  std::vector<BlockOp> gathers(dw.size());
  for (std::size_t i = 0; i < dx.size(); ++i) {
    const bool pattern = i + 1 < dx.size() && unchunked_dense_matmul(dx[i]) && dx_reduction(dx[i + 1]);
    const std::size_t w = pattern ? weight_op(dw, dx[i].name) : std::string::npos;
    if (w == std::string::npos || moved[w]) {
      out.whole.push_back(dx[i]);
      continue;
    }
    const BlockOp& reduction = dx[i + 1];
    const bool gather = sequence_parallel && reduction.kind == CollectiveKind::ReduceScatter;
    long gather_index = -1;
    if (gather) {
      gathers[w] = input_gather(reduction, dx[i].name);
      BlockOp ag = gathers[w];
      ag.chunked = ag.chunk_async = true;
      gather_index = static_cast<long>(out.whole.size());
      out.whole.push_back(std::move(ag));
    }
    BlockOp matmul = dx[i];
    matmul.chunked = true;
    out.whole.push_back(std::move(matmul));
    BlockOp reduce = reduction;
    reduce.chunked = reduce.chunk_async = true;
    out.whole.push_back(std::move(reduce));
    BlockOp weight = dw[w];
    weight.chunked = true;
    if (gather_index >= 0) weight.chunk_input_back = static_cast<long>(out.whole.size()) - gather_index;
    out.whole.push_back(std::move(weight));
    moved[w] = 1;
    column[w] = gather ? 1 : 0;
    ++i;
  }
  for (std::size_t w = 0; w < dw.size(); ++w) {
    if (!moved[w]) out.whole.push_back(dw[w]);
    if (column[w]) out.weight.push_back(gathers[w]);
    out.weight.push_back(dw[w]);
  }
  return out;
}

}  // namespace moesim::model

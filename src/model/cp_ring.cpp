#include "model/cp_ring.hpp"

namespace moesim::model {

namespace {

bool ring_marker(const BlockOp& op) {
  return op.collective && op.ring && (op.group == GroupKind::Cp || op.group == GroupKind::CpRing) && !op.chunked;
}

bool attention_core(const BlockOp& op) {
  return !op.collective && op.host_copy == HostCopy::None && op.cost.op_class == config::OpClass::Attention &&
         !op.chunked;
}

BlockOp shift(const BlockOp& marker, int k, double elements) {
  BlockOp s = marker;
  s.name += "#s" + std::to_string(k);
  s.elements = elements;
  s.chunked = true;
  s.chunk_async = true;
  return s;
}

BlockOp block(const BlockOp& core, int k, int cp) {
  BlockOp b = core;
  b.name += "#b" + std::to_string(k);
  b.cost.flops = core.cost.flops / cp;
  b.cost.bytes = core.cost.bytes / cp;
  b.chunked = true;
  b.cp_block = k;
  return b;
}

// Shifts 1..cp-1 of `elements` each, then the blocks, block k waiting for shift k.
void emit_steps(std::vector<BlockOp>& out, const BlockOp& marker, const BlockOp& core, int cp, double elements) {
  const std::size_t first_shift = out.size();
  for (int k = 1; k < cp; ++k) out.push_back(shift(marker, k, elements));
  for (int k = 0; k < cp; ++k) {
    BlockOp b = block(core, k, cp);
    if (k > 0) b.chunk_input_back = static_cast<long>(out.size()) - (static_cast<long>(first_shift) + k - 1);
    out.push_back(std::move(b));
  }
}

}  // namespace

std::vector<BlockOp> expand_cp_ring(const std::vector<BlockOp>& ops, int cp) {
  if (cp <= 1) return ops;
  std::vector<BlockOp> out;
  out.reserve(ops.size() + 2 * static_cast<std::size_t>(cp));
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const bool forward = i + 1 < ops.size() && ring_marker(ops[i]) && attention_core(ops[i + 1]);
    const bool backward = i + 1 < ops.size() && attention_core(ops[i]) && ring_marker(ops[i + 1]);
    if (forward) {
      emit_steps(out, ops[i], ops[i + 1], cp, ops[i].elements);
    } else if (backward) {
      const BlockOp& marker = ops[i + 1];
      emit_steps(out, marker, ops[i], cp, 2.0 * marker.elements);  // K/V and the partial dK/dV travel together
      out.push_back(shift(marker, cp, marker.elements));           // the finished dK/dV home
    } else {
      out.push_back(ops[i]);
      continue;
    }
    ++i;
  }
  return out;
}

}  // namespace moesim::model

#include "strategy/pipeline_zbv.hpp"

#include <stdexcept>
#include <string>

namespace moesim::strategy {

std::optional<LayoutProblem> ZeroBubbleV::layout_problem(int /*pp*/, int vpp, int /*micro_batches*/) const {
  if (vpp != 2) {
    return LayoutProblem{"/parallel/vpp",
                         "zbv places two model chunks per stage in a V: needs vpp = 2, got " + std::to_string(vpp)};
  }
  return std::nullopt;
}

std::vector<PipelineTask> ZeroBubbleV::stage_order(int stage, int pp, int vpp, int micro_batches) const {
  if (stage < 0 || stage >= pp || micro_batches < 1) throw std::invalid_argument("zbv: bad stage or micro-batches");
  if (const auto problem = layout_problem(pp, vpp, micro_batches)) throw std::invalid_argument(problem->message);
  const int s = stage, n = std::max(micro_batches, 2 * pp - 1);
  int forwards[2] = {0, 0}, inputs[2] = {0, 0}, weights[2] = {0, 0};
  std::vector<PipelineTask> order;
  auto add = [&](int micro_batch, int chunk, bool forward, BackwardPart part) {
    if (micro_batch < micro_batches) order.push_back({micro_batch, chunk, forward, part, Pairing::ByStrategy});
  };
  auto f = [&](int c) { add(forwards[c]++, c, true, BackwardPart::Whole); };
  auto b = [&](int c) { add(inputs[c]++, c, false, BackwardPart::Input); };
  auto w = [&](int c) { add(weights[c]++, c, false, BackwardPart::Weight); };
  for (int i = 0; i < 2 * (pp - s) - 1; ++i) f(0);
  for (int i = 0; i < s; ++i) {
    f(1);
    f(0);
  }
  for (int i = 0; i < pp - s; ++i) {
    f(1);
    b(1);
    w(1);
  }
  while (forwards[1] < forwards[0] || forwards[0] < n) {
    if (forwards[0] < n) f(0);
    b(0);
    w(0);
    f(1);
    b(1);
    w(1);
  }
  for (int i = 0; i < s; ++i) {
    b(0);
    b(1);
  }
  for (int i = 0; i < pp - s; ++i) {
    b(0);
    w(0);
  }
  while (weights[1] < inputs[1]) w(1);
  while (weights[0] < inputs[0]) w(0);
  if (forwards[0] != n || forwards[1] != n || inputs[0] != n || inputs[1] != n || weights[0] != n || weights[1] != n)
    throw std::logic_error("zbv: unbalanced order");
  return order;
}

}  // namespace moesim::strategy

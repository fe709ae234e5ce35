#include "strategy/pipeline_dualpipev.hpp"

#include <deque>
#include <stdexcept>
#include <string>

namespace moesim::strategy {

namespace {

// Appends tasks in order: micro-batches numbered per chunk and direction as they are issued; B's split into B and W
// queue their W until W() takes the oldest.
class OrderWriter {
 public:
  std::vector<PipelineTask> order;

  void forward(int chunk) { add({next_forward_[chunk]++, chunk, true, BackwardPart::Whole}); }
  void backward(int chunk, bool split = false) {
    const int micro_batch = next_backward_[chunk]++;
    add({micro_batch, chunk, false, split ? BackwardPart::Input : BackwardPart::Whole});
    if (split) weights_.push_back({micro_batch, chunk, false, BackwardPart::Weight});
  }
  void weight() {
    if (weights_.empty()) throw std::logic_error("dualpipev: no weight gradient queued");
    add(weights_.front());
    weights_.pop_front();
  }
  // One overlapped chunk: the forward of `forward_chunk` and the backward of `backward_chunk`, forward first.
  void forward_backward(int forward_chunk, int backward_chunk) {
    forward(forward_chunk);
    order.back().pairing = Pairing::WithNext;
    backward(backward_chunk);
  }
  bool weights_pending() const { return !weights_.empty(); }

 private:
  int next_forward_[2] = {0, 0}, next_backward_[2] = {0, 0};
  std::deque<PipelineTask> weights_;

  void add(PipelineTask task) {
    task.pairing = Pairing::Alone;
    order.push_back(task);
  }
};

}  // namespace

std::optional<LayoutProblem> DualPipeV::layout_problem(int pp, int vpp, int micro_batches) const {
  if (vpp != 2) {
    return LayoutProblem{"/parallel/vpp", "dualpipev places two model chunks per stage in a V: needs vpp = 2, got " +
                                              std::to_string(vpp)};
  }
  if (micro_batches < 2 * pp) {
    return LayoutProblem{"/training/global_batch_size", "dualpipev needs at least 2 x pp = " + std::to_string(2 * pp) +
                                                            " micro-batches per DP rank, got " +
                                                            std::to_string(micro_batches)};
  }
  return std::nullopt;
}

std::vector<PipelineTask> DualPipeV::stage_order(int stage, int pp, int vpp, int micro_batches) const {
  if (stage < 0 || stage >= pp || micro_batches < 1)
    throw std::invalid_argument("dualpipev: bad stage or micro-batches");
  if (const auto problem = layout_problem(pp, vpp, micro_batches)) throw std::invalid_argument(problem->message);
  const int s = stage, down = pp - stage - 1;  // stages below this one
  const bool last = stage == pp - 1;
  OrderWriter w;
  for (int i = 0; i < 2 * down; ++i) w.forward(0);  // 1
  for (int i = 0; i <= s; ++i) {                    // 2
    w.forward(0);
    w.forward(1);
  }
  for (int i = 0; i < down; ++i) {  // 3: zero bubble, the W right after its B
    w.backward(1, true);
    w.weight();
    w.forward(1);
  }
  for (int i = 0; i < micro_batches - 2 * pp + s + 1; ++i) {  // 4: the main phase
    if (i == 0 && last) {
      w.forward(0);  // dualpipev.py: not overlapped here, to keep the bubble small
      w.backward(1);
    } else {
      w.forward_backward(0, 1);
    }
    w.forward_backward(1, 0);
  }
  for (int i = 0; i < down; ++i) {  // 5
    w.backward(1);
    w.forward_backward(1, 0);
  }
  bool split = false;  // 6: the second half of these backwards use zero bubble
  for (int i = 0; i <= s; ++i) {
    if (i == (s + 1) / 2 && s % 2 == 1) split = true;
    w.backward(1, split);
    if (i == (s + 1) / 2 && s % 2 == 0) split = true;
    w.backward(0, split);
  }
  for (int i = 0; i < down; ++i) {  // 7
    w.weight();
    w.backward(0, true);
  }
  while (w.weights_pending()) w.weight();  // 8: s + 1 of them
  return w.order;
}

}  // namespace moesim::strategy

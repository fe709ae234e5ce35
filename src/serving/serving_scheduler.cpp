// Step planning of one instance: FCFS admission, decode scheduling with KV-block growth and recompute
// preemption, chunked prefill, P/D transfer admission, and the step's shape and cost (docs/serving.md).
#include <algorithm>
#include <stdexcept>

#include "serving/serving_loop_internal.hpp"

namespace moesim::serving::detail {

void Loop::preempt(Instance& i, int id) {
  Request& r = req(id);
  release(i, r.blocks);
  r.phase = Phase::Waiting;
  r.target = r.spec.prompt_tokens + r.generated;  // recompute: prompt and generated tokens are prefilled again
  r.computed = 0;
  ++r.record.preemptions;
  ++preemptions_;
  std::erase(i.running, id);
  i.waiting.push_front(id);
}

// The latest-admitted request that can give its blocks back (not one whose KV is arriving).
int Loop::victim(const Instance& i) {
  for (auto it = i.running.rbegin(); it != i.running.rend(); ++it) {
    const Phase p = req(*it).phase;
    if (p == Phase::Decode || p == Phase::Prefill) return *it;
  }
  return -1;
}

// ---- step planning ----
void Loop::schedule_decodes(int index, int& budget) {
  Instance& i = inst(index);
  const int tokens = 1 + o_.speculation.draft_tokens();
  const std::vector<int> snapshot = i.running;
  for (int id : snapshot) {
    Request& r = req(id);
    if (r.phase != Phase::Decode || budget < tokens) continue;
    bool preempted_self = false;
    const long long need = std::min<long long>(static_cast<long long>(r.computed) + tokens,
                                               static_cast<long long>(r.spec.prompt_tokens) + r.spec.output_tokens);
    while (!grow(r, need)) {
      const int v = victim(i);
      preempt(i, v);
      if (v == id) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) continue;
    i.work.push_back({id, tokens, true, r.computed});
    budget -= tokens;
  }
}

// Continues partly prefilled requests (chunked prefill) within the budget and the free blocks.
void Loop::schedule_running_prefills(int index, int& budget) {
  Instance& i = inst(index);
  for (int id : i.running) {
    Request& r = req(id);
    if (r.phase != Phase::Prefill || budget <= 0) continue;
    const int chunk = fitting_chunk(r, std::min(r.target - r.computed, budget));
    if (chunk <= 0) continue;
    i.work.push_back({id, chunk, false, r.computed});
    budget -= chunk;
  }
}

// The largest chunk <= wanted whose KV fits (blocks already allocated to r, plus the free ones); allocates it.
int Loop::fitting_chunk(Request& r, int wanted) {
  const Instance& i = inst(r.at);
  const long long room = (r.blocks + i.free_blocks) * o_.block_tokens - r.computed;
  const int chunk = static_cast<int>(std::min<long long>(wanted, room));
  if (chunk > 0) grow(r, static_cast<long long>(r.computed) + chunk);
  return chunk;
}

// FCFS admission from the waiting queue: new and preempted requests start prefilling, P/D hand-offs reserve
// their blocks and start the KV transfer. Stops at the first request that does not fit.
void Loop::admit(int index, int& budget, bool chunked) {
  Instance& i = inst(index);
  while (!i.waiting.empty() && static_cast<int>(i.running.size()) < o_.max_batch) {
    const int id = i.waiting.front();
    Request& r = req(id);
    if (r.phase == Phase::Handoff) {
      if (!grow(r, static_cast<long long>(r.computed) + 1)) return;
      start_transfer(r);
    } else {
      const int tokens = r.target - r.computed;
      int chunk = tokens;
      if (chunked) {
        if (budget <= 0) return;
        chunk = fitting_chunk(r, std::min(tokens, budget));
        if (chunk <= 0) return;
      } else {
        const bool alone = i.work.empty();  // a recompute longer than the budget runs alone
        if ((tokens > budget && !alone) || !grow(r, r.target)) return;
      }
      r.phase = Phase::Prefill;
      i.work.push_back({id, chunk, false, r.computed});
      budget -= chunk;
    }
    i.waiting.pop_front();
    i.running.push_back(id);
  }
}

void Loop::start_transfer(Request& r) {
  r.phase = Phase::Transfer;
  Instance& source = inst(r.source);
  const double start_s = std::max(now_, source.nic_free_s);
  const double end_s = start_s + cost_.kv_transfer_s(r.computed);
  source.nic_free_s = end_s;
  push(end_s, EventKind::TransferDone, r.record.id);
}

// P/D: hand-offs at the head of the queue start their KV transfer as soon as blocks are free, even while the
// decode instance runs a step (the transfer uses the NICs, not the compute).
void Loop::admit_transfers(int index) {
  Instance& i = inst(index);
  while (!i.waiting.empty() && static_cast<int>(i.running.size()) < o_.max_batch) {
    Request& r = req(i.waiting.front());
    if (r.phase != Phase::Handoff || !grow(r, static_cast<long long>(r.computed) + 1)) return;
    start_transfer(r);
    i.waiting.pop_front();
    i.running.push_back(r.record.id);
  }
}

void Loop::plan(int index) {
  Instance& i = inst(index);
  admit_transfers(index);
  if (i.busy) return;
  int budget = o_.max_tokens_per_step;
  if (o_.chunked_prefill) {
    if (i.role != Role::Prefill) schedule_decodes(index, budget);
    schedule_running_prefills(index, budget);
    admit(index, budget, true);
  } else {
    admit(index, budget, false);  // prefill first (vLLM's default without chunked prefill)
    if (i.work.empty() && i.role != Role::Prefill) schedule_decodes(index, budget);
  }
  if (i.work.empty()) return;
  start_step(index);
}

void Loop::start_step(int index) {
  Instance& i = inst(index);
  StepShape shape;
  for (const Work& w : i.work) {
    if (w.decode) {
      ++shape.decode_seqs;
      shape.decode_tokens += w.tokens;
      shape.decode_kv_tokens += w.kv_before;
    } else {
      ++shape.prefill_seqs;
      shape.prefill_tokens += w.tokens;
      shape.prefill_attention += static_cast<double>(w.tokens) * (w.kv_before + w.tokens / 2.0);
    }
  }
  const StepCost c = cost_.step(shape);
  if (!(c.time_s > 0)) throw std::logic_error("serving: a step cost model returned a non-positive time");
  if (class_s_.size() < c.class_s.size()) class_s_.resize(c.class_s.size(), 0.0);
  for (std::size_t k = 0; k < c.class_s.size(); ++k) class_s_[k] += c.class_s[k];
  i.busy = true;
  steps_.push_back({now_, now_ + c.time_s, index, shape.decode_seqs, shape.prefill_seqs,
                    static_cast<int>(shape.prefill_tokens), o_.kv_blocks - i.free_blocks});
  push(now_ + c.time_s, EventKind::StepDone, index);
}
}  // namespace moesim::serving::detail

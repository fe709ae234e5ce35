#include "serving/serving_loop.hpp"

#include <algorithm>
#include <stdexcept>

#include "serving/serving_loop_internal.hpp"

namespace moesim::serving {

namespace detail {

Loop::Loop(WorkloadSource& workload, const StepCostModel& cost, const ServingOptions& options)
    : workload_(workload), cost_(cost), o_(options), random_(options.seed ^ 0x5eed5eedULL) {
  if (o_.instances < 1 || o_.kv_blocks < 1 || o_.block_tokens < 1 || o_.max_batch < 1 || o_.max_tokens_per_step < 1 ||
      o_.prefill_instances < 0 || (o_.prefill_instances > 0 && o_.prefill_instances >= o_.instances)) {
    throw std::invalid_argument("serving: inconsistent options (instances, KV blocks, batch or token limits)");
  }
  instances_.resize(static_cast<std::size_t>(o_.instances));
  dirty_.assign(static_cast<std::size_t>(o_.instances), false);
  for (int i = 0; i < o_.instances; ++i) {
    auto& inst = instances_[static_cast<std::size_t>(i)];
    inst.free_blocks = o_.kv_blocks;
    inst.role = o_.prefill_instances == 0 ? Role::Mixed : i < o_.prefill_instances ? Role::Prefill : Role::Decode;
  }
}

ServingResult Loop::run() {
  const auto initial = workload_.initial();
  for (const auto& spec : initial) check_fits(spec, static_cast<int>(requests_.size()));
  for (const auto& spec : initial) add_request(spec);
  // Every event of one instant is applied before any instance plans its next step, so that simultaneous
  // arrivals and completions are batched together.
  while (!events_.empty()) {
    now_ = events_.top().time_s;
    while (!events_.empty() && events_.top().time_s == now_) {
      const Event event = events_.top();
      events_.pop();
      switch (event.kind) {
        case EventKind::Arrival:
          on_arrival(event.index);
          break;
        case EventKind::StepDone:
          on_step_done(event.index);
          break;
        case EventKind::TransferDone:
          on_transfer_done(event.index);
          break;
      }
    }
    for (int i = 0; i < o_.instances; ++i) {
      if (dirty_[static_cast<std::size_t>(i)]) {
        dirty_[static_cast<std::size_t>(i)] = false;
        plan(i);
      }
    }
  }
  return finish_result();
}

void Loop::check_fits(const RequestSpec& spec, int id) const {
  const long long need = static_cast<long long>(spec.prompt_tokens) + spec.output_tokens;
  if (blocks_for(need) > o_.kv_blocks) {
    throw std::invalid_argument(
        "request " + std::to_string(id) + " (prompt " + std::to_string(spec.prompt_tokens) + " + output " +
        std::to_string(spec.output_tokens) + " tokens) can never fit: the KV cache of one instance holds " +
        std::to_string(o_.kv_blocks) + " blocks of " + std::to_string(o_.block_tokens) +
        " tokens = " + std::to_string(o_.kv_blocks * o_.block_tokens) + " tokens" + o_.kv_limit_note);
  }
  if (!o_.chunked_prefill && spec.prompt_tokens > o_.max_tokens_per_step) {
    throw std::invalid_argument("request " + std::to_string(id) + " has a prompt of " +
                                std::to_string(spec.prompt_tokens) + " tokens, above max_tokens_per_step (" +
                                std::to_string(o_.max_tokens_per_step) +
                                "); raise it or enable chunked_prefill (/serving/scheduler)");
  }
}

void Loop::add_request(const RequestSpec& spec) {
  Request r;
  r.spec = spec;
  r.record.id = static_cast<int>(requests_.size());
  r.record.arrival_s = spec.arrival_s;
  r.record.prompt_tokens = spec.prompt_tokens;
  r.record.output_tokens = spec.output_tokens;
  r.target = spec.prompt_tokens;
  requests_.push_back(r);
  push(spec.arrival_s, EventKind::Arrival, r.record.id);
}

// ---- KV blocks (with the utilisation integral) ----
void Loop::account(Instance& i) {
  i.kv_area += static_cast<double>(o_.kv_blocks - i.free_blocks) * (now_ - i.kv_since_s);
  i.kv_since_s = now_;
}

void Loop::note_peak(const Instance& i) {
  peak_ = std::max(peak_, static_cast<double>(o_.kv_blocks - i.free_blocks) / static_cast<double>(o_.kv_blocks));
}

// Grows r's blocks on its instance to hold `tokens`; false (nothing taken) when they are not free.
bool Loop::grow(Request& r, long long tokens) {
  Instance& i = inst(r.at);
  const long long need = blocks_for(tokens) - r.blocks;
  if (need <= 0) return true;
  if (need > i.free_blocks) return false;
  account(i);
  i.free_blocks -= need;
  r.blocks += need;
  note_peak(i);
  return true;
}

void Loop::shrink(Request& r, long long tokens) {
  const long long extra = r.blocks - blocks_for(tokens);
  if (extra <= 0) return;
  Instance& i = inst(r.at);
  account(i);
  i.free_blocks += extra;
  r.blocks -= extra;
}

void Loop::release(Instance& i, long long& blocks) {
  account(i);
  i.free_blocks += blocks;
  blocks = 0;
}

// ---- events ----
int Loop::least_loaded(Role a, Role b) {
  int best = -1;
  std::size_t best_load = 0;
  for (int k = 0; k < o_.instances; ++k) {
    const Instance& i = inst(k);
    if (i.role != a && i.role != b) continue;
    const std::size_t load = i.waiting.size() + i.running.size();
    if (best < 0 || load < best_load) {
      best = k;
      best_load = load;
    }
  }
  return best;
}

void Loop::on_arrival(int id) {
  Request& r = req(id);
  if (r.spec.user >= 0) check_fits(r.spec, id);
  r.at = least_loaded(Role::Mixed, Role::Prefill);
  r.record.instance = r.at;
  inst(r.at).waiting.push_back(id);
  mark(r.at);
}

void Loop::on_transfer_done(int id) {
  Request& r = req(id);
  Instance& source = inst(r.source);
  release(source, r.source_blocks);
  r.record.kv_transfer_s = now_ - r.prefill_done_s;
  r.phase = Phase::Decode;
  const int source_index = r.source;
  r.source = -1;
  mark(source_index);
  mark(r.at);
}

void Loop::on_step_done(int index) {
  Instance& i = inst(index);
  const int drafts = o_.speculation.draft_tokens();
  for (const Work& w : i.work) {
    Request& r = req(w.request);
    if (w.decode) {
      int tokens = 1;
      for (int d = 0; d < drafts && random_.unit() < o_.speculation.acceptance[static_cast<std::size_t>(d)]; ++d) {
        ++tokens;
      }
      tokens = std::min(tokens, r.spec.output_tokens - r.generated);
      r.computed += tokens;
      r.generated += tokens;
      shrink(r, r.computed);
      if (r.generated >= r.spec.output_tokens) complete(r);
      continue;
    }
    r.computed += w.tokens;
    if (r.computed < r.target) continue;
    ++r.generated;  // a finished prefill yields the next token
    if (r.record.first_token_s < 0) r.record.first_token_s = now_;
    if (r.generated >= r.spec.output_tokens) {
      complete(r);
    } else if (i.role == Role::Prefill) {
      hand_off(r);
    } else {
      r.phase = Phase::Decode;
    }
  }
  i.work.clear();
  std::erase_if(i.running, [&](int id) {
    const Phase p = req(id).phase;
    return p == Phase::Done || p == Phase::Handoff;
  });
  i.busy = false;
  mark(index);
}

void Loop::complete(Request& r) {
  r.phase = Phase::Done;
  r.record.finish_s = now_;
  release(inst(r.at), r.blocks);
  makespan_ = std::max(makespan_, now_);
  if (r.spec.user >= 0) {
    if (auto next = workload_.after_completion(r.spec.user, now_)) add_request(*next);
  }
}

// P/D: the prefill instance keeps the KV until it reaches the least-loaded decode instance.
void Loop::hand_off(Request& r) {
  r.phase = Phase::Handoff;
  r.prefill_done_s = now_;
  r.source = r.at;
  r.source_blocks = r.blocks;
  r.blocks = 0;
  r.at = least_loaded(Role::Decode, Role::Decode);
  r.record.decode_instance = r.at;
  inst(r.at).waiting.push_back(r.record.id);
  mark(r.at);
}

ServingResult Loop::finish_result() {
  ServingResult result;
  result.makespan_s = makespan_;
  double mean = 0;
  for (auto& i : instances_) {
    now_ = makespan_;
    account(i);
    if (makespan_ > 0) mean += i.kv_area / (static_cast<double>(o_.kv_blocks) * makespan_);
  }
  result.kv_utilisation_mean = mean / static_cast<double>(instances_.size());
  result.kv_utilisation_peak = peak_;
  result.preemptions = preemptions_;
  result.kv_blocks = o_.kv_blocks;
  result.class_s = std::move(class_s_);
  result.steps = std::move(steps_);
  for (const auto& r : requests_) {
    if (r.phase != Phase::Done) throw std::logic_error("serving: a request was left unfinished");
    result.requests.push_back(r.record);
  }
  return result;
}
}  // namespace detail

ServingResult run_serving(WorkloadSource& workload, const StepCostModel& cost, const ServingOptions& options) {
  return detail::Loop(workload, cost, options).run();
}

}  // namespace moesim::serving

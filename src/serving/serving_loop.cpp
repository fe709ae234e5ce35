#include "serving/serving_loop.hpp"

#include <algorithm>
#include <deque>
#include <queue>
#include <stdexcept>

namespace moesim::serving {

namespace {

enum class Phase { Waiting, Prefill, Decode, Transfer, Handoff, Done };
enum class Role { Mixed, Prefill, Decode };
enum class EventKind { Arrival, StepDone, TransferDone };

struct Request {
  RequestSpec spec;
  RequestRecord record;
  Phase phase = Phase::Waiting;
  int target = 0;        // tokens to prefill before decoding (prompt; prompt + generated after a preemption)
  int computed = 0;      // tokens whose KV is cached on the instance holding it
  int generated = 0;     // output tokens produced
  long long blocks = 0;  // KV blocks held on `at`
  int at = -1;           // instance holding (or queueing) it
  int source = -1;       // P/D: prefill instance still holding its KV during the transfer
  long long source_blocks = 0;
  double prefill_done_s = 0;
};

// One request's share of a step: `tokens` query tokens, decoding or prefilling.
struct Work {
  int request = 0;
  int tokens = 0;
  bool decode = false;
  int kv_before = 0;
};

struct Instance {
  Role role = Role::Mixed;
  long long free_blocks = 0;
  std::deque<int> waiting;
  std::vector<int> running;  // admitted, in admission order
  bool busy = false;
  std::vector<Work> work;
  double nic_free_s = 0;  // P/D prefill instance: KV transfers leave one after another
  double kv_area = 0;     // integral of used blocks over time
  double kv_since_s = 0;
};

struct Event {
  double time_s;
  std::uint64_t sequence;
  EventKind kind;
  int index;
  bool operator>(const Event& other) const {
    return time_s != other.time_s ? time_s > other.time_s : sequence > other.sequence;
  }
};

class Loop {
 public:
  Loop(WorkloadSource& workload, const StepCostModel& cost, const ServingOptions& options)
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

  ServingResult run() {
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

 private:
  Instance& inst(int i) { return instances_[static_cast<std::size_t>(i)]; }
  Request& req(int r) { return requests_[static_cast<std::size_t>(r)]; }
  long long blocks_for(long long tokens) const { return (tokens + o_.block_tokens - 1) / o_.block_tokens; }

  void mark(int index) { dirty_[static_cast<std::size_t>(index)] = true; }
  void push(double time_s, EventKind kind, int index) { events_.push({time_s, next_sequence_++, kind, index}); }

  void check_fits(const RequestSpec& spec, int id) const {
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

  void add_request(const RequestSpec& spec) {
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
  void account(Instance& i) {
    i.kv_area += static_cast<double>(o_.kv_blocks - i.free_blocks) * (now_ - i.kv_since_s);
    i.kv_since_s = now_;
  }
  void note_peak(const Instance& i) {
    peak_ = std::max(peak_, static_cast<double>(o_.kv_blocks - i.free_blocks) / static_cast<double>(o_.kv_blocks));
  }
  // Grows r's blocks on its instance to hold `tokens`; false (nothing taken) when they are not free.
  bool grow(Request& r, long long tokens) {
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
  void shrink(Request& r, long long tokens) {
    const long long extra = r.blocks - blocks_for(tokens);
    if (extra <= 0) return;
    Instance& i = inst(r.at);
    account(i);
    i.free_blocks += extra;
    r.blocks -= extra;
  }
  void release(Instance& i, long long& blocks) {
    account(i);
    i.free_blocks += blocks;
    blocks = 0;
  }

  // ---- events ----
  int least_loaded(Role a, Role b) {
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

  void on_arrival(int id) {
    Request& r = req(id);
    if (r.spec.user >= 0) check_fits(r.spec, id);
    r.at = least_loaded(Role::Mixed, Role::Prefill);
    r.record.instance = r.at;
    inst(r.at).waiting.push_back(id);
    mark(r.at);
  }

  void on_transfer_done(int id) {
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

  void on_step_done(int index) {
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

  void complete(Request& r) {
    r.phase = Phase::Done;
    r.record.finish_s = now_;
    release(inst(r.at), r.blocks);
    makespan_ = std::max(makespan_, now_);
    if (r.spec.user >= 0) {
      if (auto next = workload_.after_completion(r.spec.user, now_)) add_request(*next);
    }
  }

  // P/D: the prefill instance keeps the KV until it reaches the least-loaded decode instance.
  void hand_off(Request& r) {
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

  void preempt(Instance& i, int id) {
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
  int victim(const Instance& i) {
    for (auto it = i.running.rbegin(); it != i.running.rend(); ++it) {
      const Phase p = req(*it).phase;
      if (p == Phase::Decode || p == Phase::Prefill) return *it;
    }
    return -1;
  }

  // ---- step planning ----
  void schedule_decodes(int index, int& budget) {
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
  void schedule_running_prefills(int index, int& budget) {
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
  int fitting_chunk(Request& r, int wanted) {
    const Instance& i = inst(r.at);
    const long long room = (r.blocks + i.free_blocks) * o_.block_tokens - r.computed;
    const int chunk = static_cast<int>(std::min<long long>(wanted, room));
    if (chunk > 0) grow(r, static_cast<long long>(r.computed) + chunk);
    return chunk;
  }

  // FCFS admission from the waiting queue: new and preempted requests start prefilling, P/D hand-offs reserve
  // their blocks and start the KV transfer. Stops at the first request that does not fit.
  void admit(int index, int& budget, bool chunked) {
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

  void start_transfer(Request& r) {
    r.phase = Phase::Transfer;
    Instance& source = inst(r.source);
    const double start_s = std::max(now_, source.nic_free_s);
    const double end_s = start_s + cost_.kv_transfer_s(r.computed);
    source.nic_free_s = end_s;
    push(end_s, EventKind::TransferDone, r.record.id);
  }

  // P/D: hand-offs at the head of the queue start their KV transfer as soon as blocks are free, even while the
  // decode instance runs a step (the transfer uses the NICs, not the compute).
  void admit_transfers(int index) {
    Instance& i = inst(index);
    while (!i.waiting.empty() && static_cast<int>(i.running.size()) < o_.max_batch) {
      Request& r = req(i.waiting.front());
      if (r.phase != Phase::Handoff || !grow(r, static_cast<long long>(r.computed) + 1)) return;
      start_transfer(r);
      i.waiting.pop_front();
      i.running.push_back(r.record.id);
    }
  }

  void plan(int index) {
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

  void start_step(int index) {
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

  ServingResult finish_result() {
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

  WorkloadSource& workload_;
  const StepCostModel& cost_;
  ServingOptions o_;
  Random random_;
  std::vector<Instance> instances_;
  std::vector<bool> dirty_;  // instances to plan once the current instant's events are applied
  std::vector<Request> requests_;
  std::vector<StepRecord> steps_;
  std::vector<double> class_s_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::uint64_t next_sequence_ = 0;
  double now_ = 0;
  double makespan_ = 0;
  double peak_ = 0;
  long long preemptions_ = 0;
};

}  // namespace

ServingResult run_serving(WorkloadSource& workload, const StepCostModel& cost, const ServingOptions& options) {
  return Loop(workload, cost, options).run();
}

}  // namespace moesim::serving

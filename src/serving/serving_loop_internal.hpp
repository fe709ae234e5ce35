#pragma once
// Internal to the serving loop (serving_loop.cpp: events, request life cycle and KV-block accounting;
// serving_scheduler.cpp: step planning, admission and preemption). Not a public interface: use run_serving
// (serving_loop.hpp).
#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <vector>

#include "serving/serving_loop.hpp"

namespace moesim::serving::detail {

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
  Loop(WorkloadSource& workload, const StepCostModel& cost, const ServingOptions& options);
  ServingResult run();

 private:
  Instance& inst(int i) { return instances_[static_cast<std::size_t>(i)]; }
  Request& req(int r) { return requests_[static_cast<std::size_t>(r)]; }
  long long blocks_for(long long tokens) const { return (tokens + o_.block_tokens - 1) / o_.block_tokens; }

  void mark(int index) { dirty_[static_cast<std::size_t>(index)] = true; }
  void push(double time_s, EventKind kind, int index) { events_.push({time_s, next_sequence_++, kind, index}); }

  void check_fits(const RequestSpec& spec, int id) const;
  void add_request(const RequestSpec& spec);
  // ---- KV blocks (with the utilisation integral) ----
  void account(Instance& i);
  void note_peak(const Instance& i);
  // Grows r's blocks on its instance to hold `tokens`; false (nothing taken) when they are not free.
  bool grow(Request& r, long long tokens);
  void shrink(Request& r, long long tokens);
  void release(Instance& i, long long& blocks);
  // ---- events ----
  int least_loaded(Role a, Role b);
  void on_arrival(int id);
  void on_transfer_done(int id);
  void on_step_done(int index);
  void complete(Request& r);
  // P/D: the prefill instance keeps the KV until it reaches the least-loaded decode instance.
  void hand_off(Request& r);
  void preempt(Instance& i, int id);
  // The latest-admitted request that can give its blocks back (not one whose KV is arriving).
  int victim(const Instance& i);
  // ---- step planning ----
  void schedule_decodes(int index, int& budget);
  // Continues partly prefilled requests (chunked prefill) within the budget and the free blocks.
  void schedule_running_prefills(int index, int& budget);
  // The largest chunk <= wanted whose KV fits (blocks already allocated to r, plus the free ones); allocates it.
  int fitting_chunk(Request& r, int wanted);
  // FCFS admission from the waiting queue: new and preempted requests start prefilling, P/D hand-offs reserve
  // their blocks and start the KV transfer. Stops at the first request that does not fit.
  void admit(int index, int& budget, bool chunked);
  void start_transfer(Request& r);
  // P/D: hand-offs at the head of the queue start their KV transfer as soon as blocks are free, even while the
  // decode instance runs a step (the transfer uses the NICs, not the compute).
  void admit_transfers(int index);
  void plan(int index);
  void start_step(int index);
  ServingResult finish_result();

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

}  // namespace moesim::serving::detail

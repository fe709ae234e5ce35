#pragma once
// The serving discrete-event loop (plain C++, no engine): requests arrive, are routed to model instances, and
// each instance runs continuous-batching steps (FCFS admission, paged KV cache with recompute preemption,
// optional chunked prefill and prefill/decode disaggregation). Step times come from a StepCostModel.
// What is modelled and its assumptions: docs/serving.md.
#include <cstdint>
#include <string>
#include <vector>

#include "serving/step_cost.hpp"
#include "serving/workload.hpp"

namespace moesim::serving {

// Speculative decoding hook (MTP, helper "infer"): every decode step of a request verifies
// acceptance.size() draft tokens and yields 1 + the accepted ones; draft i is accepted with probability
// acceptance[i] when drafts 0..i-1 were (drawn from the seed). Empty = plain decoding, one token per step.
struct SpeculativeDecoding {
  std::vector<double> acceptance;
  int draft_tokens() const { return static_cast<int>(acceptance.size()); }
};

struct ServingOptions {
  int instances = 1;
  int prefill_instances = 0;  // > 0: P/D disaggregation (instances 0..prefill_instances-1 prefill, the rest decode)
  int max_batch = 256;
  int max_tokens_per_step = 8192;
  bool chunked_prefill = false;
  long long kv_blocks = 0;  // per instance
  int block_tokens = 128;
  std::string kv_limit_note;  // appended to the "can never fit" error (how the capacity was derived)
  SpeculativeDecoding speculation;
  std::uint64_t seed = 0;  // speculation draws
};

struct RequestRecord {
  int id = 0;
  double arrival_s = 0;
  int prompt_tokens = 0;
  int output_tokens = 0;
  int instance = -1;         // where it was prefilled (the serving instance without disaggregation)
  int decode_instance = -1;  // P/D only
  double first_token_s = -1;
  double finish_s = -1;
  double kv_transfer_s = 0;  // P/D: time from the end of prefill to the KV being on the decode instance
  int preemptions = 0;
  double ttft_s() const { return first_token_s - arrival_s; }
  double e2e_s() const { return finish_s - arrival_s; }
  // Mean time per output token after the first; 0 for single-token outputs.
  double tpot_s() const { return output_tokens > 1 ? (finish_s - first_token_s) / (output_tokens - 1) : 0.0; }
};

struct StepRecord {
  double start_s = 0;
  double end_s = 0;
  int instance = 0;
  int decode_seqs = 0;
  int prefill_seqs = 0;
  int prefill_tokens = 0;
  long long used_blocks = 0;  // after the step's allocations
};

struct ServingResult {
  std::vector<RequestRecord> requests;  // by id (arrival order for open-loop workloads)
  std::vector<StepRecord> steps;        // in start order per instance, instances interleaved by time
  std::vector<double> class_s;          // summed StepCost::class_s over all steps
  double makespan_s = 0;                // last completion
  double kv_utilisation_mean = 0;       // used / total blocks, time-weighted over [0, makespan], mean over instances
  double kv_utilisation_peak = 0;       // highest used / total of any instance
  long long preemptions = 0;
  long long kv_blocks = 0;  // per instance
};

// Runs the workload to completion. Throws std::invalid_argument naming the limit when a request can never be
// served: its prompt + output tokens exceed an instance's KV cache, or (without chunked prefill) its prompt
// exceeds max_tokens_per_step.
ServingResult run_serving(WorkloadSource& workload, const StepCostModel& cost, const ServingOptions& options);

}  // namespace moesim::serving

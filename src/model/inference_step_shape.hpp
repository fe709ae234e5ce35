#pragma once
// Internal to the inference step builder: token counts of one forward pass per rank at each point of a layer,
// and the element types of the step. Not a public interface.
#include "config/scenario_config.hpp"
#include "model/inference_step_builder.hpp"
#include "model/inference_step_graph.hpp"

namespace moesim::model::detail {

struct StepShape {
  bool decode = true;
  bool scatter_gather = false;  // FlashComm or H2P: ReduceScatter + AllGather instead of AllReduce
  int ranks = 1, dp = 1, tp = 1;
  double seqs = 0;             // sequences per attention (DP) group (the busiest one)
  double queries_per_seq = 1;  // query tokens per sequence in the pass (decode: 1, MTP verify: 1 + draft tokens)
  double tokens = 0;           // real tokens per attention group
  double attn_tokens = 0;      // tokens through the attention projections (padded to a multiple of tp)
  double shard = 0;            // tokens a rank holds between collectives (scatter/gather: attn_tokens / tp)
  double moe_tokens = 0;       // tokens every rank's experts see (H2P: all groups' padded tokens)
  double real_moe_tokens = 0;  // the real (unpadded) ones: padding rows are zeros and route like one token
  double context = 0;          // mean keys each query attends to
  double kv_len = 0;           // decode: KV length read per sequence
  // Mixed (chunked-prefill) step, per attention group: prefill-chunk tokens counted in `tokens` besides the decode
  // sequences' queries, their causal query-key pairs sum C (offset + C / 2), the cached KV tokens they attend to
  // (sum of offsets) and the number of chunks (one logits row each). All 0 outside a mixed step.
  double chunk_tokens = 0;
  double chunk_work = 0;
  double chunk_cached = 0;
  double chunk_seqs = 0;
};

// The main model's pass of the step: decode `queries_per_seq` tokens per sequence, or the whole prompt.
StepShape step_shape(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan, double queries_per_seq);

// A mixed step's pass: the decode sequences split over the attention groups as in a decode step (the busiest group
// holds ceil(B / dp)), the prefill chunks' tokens and attention work split evenly over the groups.
StepShape mixed_step_shape(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan,
                           const MixedStepBatch& batch);

StepDtypes step_dtypes(const config::InferenceWorkload& workload);

}  // namespace moesim::model::detail

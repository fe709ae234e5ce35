#pragma once
// Adaptive Pipe overlap (Pangu Ultra MoE, arXiv 2505.04519; mechanism from MindSpeed moe-fb-overlap; facts file
// section 5). In the steady (1F1B) phase a backward task is paired with the forward task that follows it (a different
// micro-batch) and their per-layer stages are interleaved on the compute stream so that each side's EP all-to-all
// runs under the other side's compute: Attn(F) under Combine(B), MLP(B) under Dispatch(F), MLP(F) under
// Dispatch(B), Attn(B) under Combine(F). Unpaired tasks (warm-up, cool-down) hide the forward dispatch under the
// shared experts' forward, the backward combine under the shared experts' input gradient and the backward dispatch
// under the routed experts' weight gradient (when the task computes it). Contention between the overlapped
// communication and compute for HBM is ignored (communication uses no AI cores). docs/training.md.
#include <string>

#include "strategy/overlap.hpp"

namespace moesim::strategy {

inline constexpr const char* kAdaptivePipeName = "adaptive_pipe";
inline constexpr const char* kAdaptivePipeDescription =
    "Adaptive Pipe: 1F1B forward/backward pairs interleaved so EP dispatch/combine hide under the other "
    "micro-batch's compute; warm-up/cool-down hide them under shared experts and expert dw (Pangu Ultra MoE, "
    "arXiv 2505.04519; MindSpeed moe-fb-overlap)";

struct AdaptivePipeOptions {
  bool pair_forward_backward = true;    // interleave steady-state (backward, forward) pairs
  bool hide_in_warmup_cooldown = true;  // reorder unpaired tasks around their all-to-alls
  bool pair_warmup_cooldown = false;    // interleave two consecutive forwards (warm-up) / backwards (cool-down)
  bool defer_weight_gradients = true;   // unpaired whole backward: a layer's other dw ops under the next combine
  bool pair_expert_dw_early = true;     // pairs: routed-expert dw right after its dispatch, under the paired combine
};

class AdaptivePipe final : public OverlapStrategy {
 public:
  explicit AdaptivePipe(AdaptivePipeOptions options = {}) : options_(options) {}
  std::string name() const override { return kAdaptivePipeName; }
  // A backward carrying the input gradient (Whole or B), the W tasks right after it (zero_bubble) and the forward
  // that follows them: one pair (the W's are emitted as backward compute, after the B's last piece). With
  // pair_warmup_cooldown also two consecutive forwards, or a backward, its W's and the next input-gradient backward.
  // A schedule that marks its pairs (PipelineTask::pairing, DualPipeV) gets exactly those: a (forward, backward)
  // chunk is interleaved like a (backward, forward) pair, backward pieces first.
  std::size_t group(const std::vector<PipelineTask>& order, std::size_t i) const override;
  std::vector<PlannedOp> plan(const std::vector<PipelineTask>& tasks,
                              const std::vector<const std::vector<model::BlockOp>*>& lists) const override;

 private:
  AdaptivePipeOptions options_;
};

// Params: {"pair_forward_backward": bool, "hide_in_warmup_cooldown": bool, "pair_warmup_cooldown": bool,
// "defer_weight_gradients": bool, "pair_expert_dw_early": bool}. Pairs default to on where the pipeline
// allows them: vpp > 1 (each stage runs two more warm-up forwards than the next, so a pair's outputs, ready only
// at its end, still arrive in time; MindSpeed's "VPP + one extra warm-up micro-batch", which is what pairing a
// backward with the FOLLOWING forward amounts to) or pp == 1. Under plain 1F1B with pp > 1 they would serialise
// neighbouring stages (stage s's pair k needs stage s+1's pair k, which needs stage s's pair k-1): off by default,
// an error when asked for. hide_in_warmup_cooldown defaults to true. pair_warmup_cooldown (default false) pairs
// the tasks outside the steady phase the same way (DualPipe-style chunk overlap of two micro-batches of the same
// direction; CloudMatrix's micro-batch pipelining, facts C4): same condition as the (backward, forward) pairs.
// defer_weight_gradients (default true, with hide_in_warmup_cooldown): in an unpaired whole backward, a layer's
// weight-gradient ops other than the routed experts' are moved under the next EP stage of the list (the next
// layer's combine), as MindSpeed's WeightGradStore defers dw to fill communication gaps. pair_expert_dw_early
// (default true): in a pair, each routed-expert weight gradient runs right after its layer's backward dispatch is
// issued instead of after the layer's attention input gradient, so it lands under the paired forward's combine,
// ahead of the backward's blocking sequence-parallel TP collectives (MindSpeed moe-fb-overlap: "scheduling the
// experts' and attention's dw apart from their dx hides all four all-to-alls in 1F1B").
void check_adaptive_pipe_params(config::ObjectReader& params);
bool pipeline_allows_pairs(const config::ParallelLayout& parallel);
AdaptivePipeOptions adaptive_pipe_options(const nlohmann::json& params, const config::ParallelLayout& parallel);
// Needs a training scenario of an MoE model with an expert-parallel size > 1 (else there is nothing to overlap).
void check_adaptive_pipe_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                config::IssueCollector& issues);

// The two plans, exposed for tests. Pair: task 0 = the backward (or the earlier task of a same-direction pair),
// tasks 1..w = the W tasks between it and the last task (`weights`), task w+1 = the forward (the later task); both
// lists are cut after every EP stage (overlap.hpp) and the pieces alternate, task 0 first; the W ops follow task
// 0's last piece; EP collectives and the compute inside EP stages are async. Single: the reordering of an unpaired
// task (forward or backward) described above. early_expert_dw: pair_expert_dw_early, on both sides.
std::vector<PlannedOp> interleaved_pair_plan(const std::vector<model::BlockOp>& backward,
                                             const std::vector<model::BlockOp>& forward,
                                             const std::vector<const std::vector<model::BlockOp>*>& weights = {},
                                             bool early_expert_dw = true);
std::vector<PlannedOp> hidden_single_plan(const PipelineTask& task, const std::vector<model::BlockOp>& ops,
                                          bool defer_weight_gradients = true);

}  // namespace moesim::strategy

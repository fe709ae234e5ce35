#include "strategy/overlap_adaptive_pipe.hpp"

#include <algorithm>

#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

namespace {

using model::BlockOp;
using model::module_of;

// Shared-expert forward or input-gradient op (its weight gradient, "shared_exp_w", stays in place).
bool shared_expert_op(const BlockOp& op) {
  const auto module = module_of(op);
  return module.rfind("shared_", 0) == 0 && module.compare(module.size() - 2, 2, "_w") != 0;
}

bool routed_expert_dw(const BlockOp& op) {
  return !op.collective && module_of(op) == "experts_w";
}

bool weight_gradient(const BlockOp& op) {
  const auto module = module_of(op);
  return !op.collective && module.size() > 2 && module.compare(module.size() - 2, 2, "_w") == 0;
}

// Index of the last op of the `nth` (1 = most recent) EP stage ending before `i`; -1 when none.
long stage_end_before(const std::vector<EpStage>& stages, std::size_t i, int nth) {
  for (std::size_t k = stages.size(); k-- > 0;) {
    if (stages[k].last < i && --nth == 0) return static_cast<long>(stages[k].last);
  }
  return -1;
}

// Index of the last op of the first EP stage starting after `i`; -1 when none.
long stage_end_after(const std::vector<EpStage>& stages, std::size_t i) {
  for (const auto& stage : stages) {
    if (stage.first > i) return static_cast<long>(stage.last);
  }
  return -1;
}

// Async ops of a list: its EP collectives and the compute inside its EP stages.
std::vector<bool> async_ops(const std::vector<BlockOp>& ops) {
  auto async = ep_stage_compute(ops);
  for (std::size_t i = 0; i < ops.size(); ++i) async[i] = async[i] || is_ep_comm(ops[i]);
  return async;
}

// One side of a pair, cut into pieces that each end after an EP stage (the last may have none): per piece, the op
// indices in emission order and whether each joins the task's async ops in flight. With `early_expert_dw` every
// routed-expert weight gradient moves right after the EP stage before it (its layer's backward dispatch), heads
// the next piece and does not wait for that stage: it needs only what the experts' input gradient read.
using Piece = std::pair<std::size_t, bool>;
std::vector<std::vector<Piece>> pair_pieces(const std::vector<BlockOp>& ops, bool early_expert_dw) {
  const auto stages = ep_stages(ops);
  std::vector<bool> stage_end(ops.size(), false);
  for (const auto& stage : stages) stage_end[stage.last] = true;
  std::vector<long> anchor(ops.size(), -1);
  if (early_expert_dw) {
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (routed_expert_dw(ops[i])) anchor[i] = stage_end_before(stages, i, 1);
    }
  }
  std::vector<std::vector<Piece>> out(1);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (anchor[i] >= 0) continue;
    out.back().push_back({i, true});
    if (!stage_end[i]) continue;
    out.emplace_back();
    for (std::size_t j = 0; j < ops.size(); ++j) {
      if (anchor[j] == static_cast<long>(i)) out.back().push_back({j, false});
    }
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

}  // namespace

std::size_t AdaptivePipe::group(const std::vector<PipelineTask>& order, std::size_t i) const {
  switch (order[i].pairing) {
    case Pairing::WithNext:
      return options_.pair_forward_backward && i + 1 < order.size() ? 2 : 1;
    case Pairing::Alone:
      return 1;
    case Pairing::ByStrategy:
      break;
  }
  if (order[i].forward) {
    const bool two_forwards = i + 1 < order.size() && order[i + 1].forward;
    return options_.pair_warmup_cooldown && two_forwards ? 2 : 1;
  }
  if (!order[i].input_gradient()) return 1;
  std::size_t j = i + 1;
  while (j < order.size() && !order[j].forward && order[j].part == BackwardPart::Weight) ++j;
  if (j == order.size()) return 1;
  const bool pair =
      order[j].forward ? options_.pair_forward_backward : options_.pair_warmup_cooldown && order[j].input_gradient();
  return pair ? j - i + 1 : 1;
}

std::vector<PlannedOp> AdaptivePipe::plan(const std::vector<PipelineTask>& tasks,
                                          const std::vector<const std::vector<BlockOp>*>& lists) const {
  if (tasks.size() == 2 && tasks[0].forward && !tasks[1].forward) {  // a schedule's (forward, backward) chunk
    auto plan = interleaved_pair_plan(*lists[1], *lists[0], {}, options_.pair_expert_dw_early);
    for (auto& step : plan) step.task = 1 - step.task;
    return plan;
  }
  if (tasks.size() >= 2) {
    return interleaved_pair_plan(*lists.front(), *lists.back(), {lists.begin() + 1, lists.end() - 1},
                                 options_.pair_expert_dw_early);
  }
  if (options_.hide_in_warmup_cooldown) {
    return hidden_single_plan(tasks[0], *lists[0], options_.defer_weight_gradients);
  }
  return sequential_plan(lists);
}

std::vector<PlannedOp> interleaved_pair_plan(const std::vector<BlockOp>& backward, const std::vector<BlockOp>& forward,
                                             const std::vector<const std::vector<BlockOp>*>& weights,
                                             bool early_expert_dw) {
  const int task_of[2] = {0, static_cast<int>(weights.size()) + 1};
  const std::vector<std::vector<Piece>> cut[2] = {pair_pieces(backward, early_expert_dw),
                                                  pair_pieces(forward, early_expert_dw)};
  const std::vector<bool> async[2] = {async_ops(backward), async_ops(forward)};
  std::vector<PlannedOp> plan;
  for (std::size_t k = 0; k < std::max(cut[0].size(), cut[1].size()); ++k) {
    for (int side = 0; side < 2; ++side) {
      if (k >= cut[side].size()) continue;
      for (const auto& [i, join] : cut[side][k]) plan.push_back({task_of[side], i, async[side][i], join});
      if (side == 0 && k + 1 == cut[0].size()) {  // W tasks: backward compute right after the backward's last piece
        for (std::size_t w = 0; w < weights.size(); ++w) {
          for (std::size_t i = 0; i < weights[w]->size(); ++i) {
            plan.push_back({static_cast<int>(w) + 1, i, false, true});
          }
        }
      }
    }
  }
  return plan;
}

std::vector<PlannedOp> hidden_single_plan(const PipelineTask& task, const std::vector<BlockOp>& ops,
                                          bool defer_weight_gradients) {
  // anchor[i] >= 0: op i is emitted right after op anchor[i] (an EP run's last op) and does not wait for it.
  const auto stages = ep_stages(ops);
  const auto async = async_ops(ops);
  std::vector<long> anchor(ops.size(), -1);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (task.forward) {
      if (shared_expert_op(ops[i])) anchor[i] = stage_end_after(stages, i);  // under the dispatch
    } else if (shared_expert_op(ops[i])) {
      anchor[i] = stage_end_before(stages, i, 2);  // under the combine (the dispatch's stage is the most recent one)
    } else if (routed_expert_dw(ops[i])) {
      anchor[i] = stage_end_before(stages, i, 1);  // under the dispatch
    } else if (defer_weight_gradients && weight_gradient(ops[i])) {
      anchor[i] = stage_end_after(stages, i);  // under the next layer's combine (none after the last: in place)
    }
  }
  std::vector<PlannedOp> plan;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (anchor[i] >= 0) continue;
    plan.push_back({0, i, async[i], true});
    for (std::size_t j = 0; j < ops.size(); ++j) {
      if (anchor[j] == static_cast<long>(i)) plan.push_back({0, j, false, false});
    }
  }
  return plan;
}

void check_adaptive_pipe_params(config::ObjectReader& params) {
  params.optional_boolean("pair_forward_backward");
  params.optional_boolean("hide_in_warmup_cooldown");
  params.optional_boolean("pair_warmup_cooldown");
  params.optional_boolean("defer_weight_gradients");
  params.optional_boolean("pair_expert_dw_early");
  params.finish();
}

bool pipeline_allows_pairs(const config::ParallelLayout& parallel) {
  return parallel.vpp > 1 || parallel.pp == 1;
}

AdaptivePipeOptions adaptive_pipe_options(const nlohmann::json& params, const config::ParallelLayout& parallel) {
  AdaptivePipeOptions options;
  options.pair_forward_backward = pipeline_allows_pairs(parallel);
  if (!params.is_object()) return options;
  options.pair_forward_backward = params.value("pair_forward_backward", options.pair_forward_backward);
  options.hide_in_warmup_cooldown = params.value("hide_in_warmup_cooldown", true);
  options.pair_warmup_cooldown = params.value("pair_warmup_cooldown", false);
  options.defer_weight_gradients = params.value("defer_weight_gradients", true);
  options.pair_expert_dw_early = params.value("pair_expert_dw_early", true);
  return options;
}

void check_adaptive_pipe_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                config::IssueCollector& issues) {
  if (!training_moe_with_expert_parallelism(scenario)) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "adaptive_pipe overlaps expert-parallel all-to-alls: it needs a training scenario of an MoE model "
                 "with an expert-parallel size above 1");
  }
  for (const char* key : {"pair_forward_backward", "pair_warmup_cooldown"}) {
    const auto pair = spec.params.find(key);
    if (pair != spec.params.end() && pair->is_boolean() && pair->get<bool>() &&
        !pipeline_allows_pairs(scenario.parallel)) {
      issues.error(param_pointer(spec, key),
                   "pairing micro-batches needs vpp > 1 or pp = 1 (as MindSpeed moe-fb-overlap): under plain 1F1B a "
                   "pair's outputs leave only when the pair ends, which serialises neighbouring stages");
    }
  }
}

}  // namespace moesim::strategy

#include "strategy/overlap_adaptive_pipe.hpp"

#include <algorithm>

namespace moesim::strategy {

namespace {

using model::BlockOp;

// Module name without the slot prefix ("L3.shared_exp_b" -> "shared_exp_b").
std::string module_of(const BlockOp& op) {
  const auto dot = op.name.rfind('.');
  return dot == std::string::npos ? op.name : op.name.substr(dot + 1);
}

// Shared-expert forward or input-gradient op (its weight gradient, "shared_exp_w", stays in place).
bool shared_expert_op(const BlockOp& op) {
  const auto module = module_of(op);
  return module.rfind("shared_", 0) == 0 && module.compare(module.size() - 2, 2, "_w") != 0;
}

bool routed_expert_dw(const BlockOp& op) {
  return !op.collective && module_of(op) == "experts_w";
}

// [begin, end) pieces of a list, each ending after a run of EP collectives (the last may have none).
std::vector<std::pair<std::size_t, std::size_t>> pieces(const std::vector<BlockOp>& ops) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const bool ends_run = is_ep_comm(ops[i]) && (i + 1 == ops.size() || !is_ep_comm(ops[i + 1]));
    if (ends_run) {
      out.push_back({begin, i + 1});
      begin = i + 1;
    }
  }
  if (begin < ops.size()) out.push_back({begin, ops.size()});
  return out;
}

// Index of the last op of the `nth` (1 = most recent) run of EP collectives ending before `i`; -1 when none.
long run_end_before(const std::vector<BlockOp>& ops, std::size_t i, int nth) {
  for (std::size_t k = i; k-- > 0;) {
    if (is_ep_comm(ops[k]) && (k + 1 == ops.size() || !is_ep_comm(ops[k + 1])) && --nth == 0) {
      return static_cast<long>(k);
    }
  }
  return -1;
}

// Index of the last op of the first run of EP collectives after `i`; -1 when none.
long run_end_after(const std::vector<BlockOp>& ops, std::size_t i) {
  for (std::size_t k = i + 1; k < ops.size(); ++k) {
    if (!is_ep_comm(ops[k])) continue;
    while (k + 1 < ops.size() && is_ep_comm(ops[k + 1])) ++k;
    return static_cast<long>(k);
  }
  return -1;
}

}  // namespace

std::size_t AdaptivePipe::group(const std::vector<PipelineTask>& order, std::size_t i) const {
  if (!options_.pair_forward_backward || !order[i].input_gradient()) return 1;
  std::size_t j = i + 1;
  while (j < order.size() && !order[j].forward && order[j].part == BackwardPart::Weight) ++j;
  return j < order.size() && order[j].forward ? j - i + 1 : 1;
}

std::vector<PlannedOp> AdaptivePipe::plan(const std::vector<PipelineTask>& tasks,
                                          const std::vector<const std::vector<BlockOp>*>& lists) const {
  if (tasks.size() >= 2) {
    return interleaved_pair_plan(*lists.front(), *lists.back(), {lists.begin() + 1, lists.end() - 1});
  }
  if (options_.hide_in_warmup_cooldown) return hidden_single_plan(tasks[0], *lists[0]);
  return sequential_plan(lists);
}

std::vector<PlannedOp> interleaved_pair_plan(const std::vector<BlockOp>& backward, const std::vector<BlockOp>& forward,
                                             const std::vector<const std::vector<BlockOp>*>& weights) {
  const std::vector<BlockOp>* lists[2] = {&backward, &forward};
  const int task_of[2] = {0, static_cast<int>(weights.size()) + 1};
  const std::vector<std::pair<std::size_t, std::size_t>> cut[2] = {pieces(backward), pieces(forward)};
  std::vector<PlannedOp> plan;
  for (std::size_t k = 0; k < std::max(cut[0].size(), cut[1].size()); ++k) {
    for (int side = 0; side < 2; ++side) {
      if (k >= cut[side].size()) continue;
      for (std::size_t i = cut[side][k].first; i < cut[side][k].second; ++i) {
        plan.push_back({task_of[side], i, is_ep_comm((*lists[side])[i]), true});
      }
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

std::vector<PlannedOp> hidden_single_plan(const PipelineTask& task, const std::vector<BlockOp>& ops) {
  // anchor[i] >= 0: op i is emitted right after op anchor[i] (an EP run's last op) and does not wait for it.
  std::vector<long> anchor(ops.size(), -1);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (task.forward) {
      if (shared_expert_op(ops[i])) anchor[i] = run_end_after(ops, i);  // under the dispatch
    } else if (shared_expert_op(ops[i])) {
      anchor[i] = run_end_before(ops, i, 2);  // under the combine (the dispatch's run is the most recent one)
    } else if (routed_expert_dw(ops[i])) {
      anchor[i] = run_end_before(ops, i, 1);  // under the dispatch
    }
  }
  std::vector<PlannedOp> plan;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (anchor[i] >= 0) continue;
    plan.push_back({0, i, is_ep_comm(ops[i]), true});
    for (std::size_t j = 0; j < ops.size(); ++j) {
      if (anchor[j] == static_cast<long>(i)) plan.push_back({0, j, false, false});
    }
  }
  return plan;
}

void check_adaptive_pipe_params(config::ObjectReader& params) {
  params.optional_boolean("pair_forward_backward");
  params.optional_boolean("hide_in_warmup_cooldown");
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
  return options;
}

void check_adaptive_pipe_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                config::IssueCollector& issues) {
  const bool moe = scenario.model && scenario.model->moe.has_value();
  if (scenario.type != config::ScenarioType::Training || !moe || scenario.parallel.expert_parallel_size() < 2) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "adaptive_pipe overlaps expert-parallel all-to-alls: it needs a training scenario of an MoE model "
                 "with an expert-parallel size above 1");
  }
  const auto pair = spec.params.find("pair_forward_backward");
  if (pair != spec.params.end() && pair->is_boolean() && pair->get<bool>() &&
      !pipeline_allows_pairs(scenario.parallel)) {
    issues.error(config::pointer_child(config::pointer_child(spec.pointer, "params"), "pair_forward_backward"),
                 "pairing forward and backward micro-batches needs vpp > 1 or pp = 1 (as MindSpeed moe-fb-overlap): "
                 "under plain 1F1B a pair's input gradient leaves only when the pair ends, which serialises "
                 "neighbouring stages");
  }
}

}  // namespace moesim::strategy

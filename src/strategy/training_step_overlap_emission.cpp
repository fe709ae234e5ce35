// Training step builder: tasks emitted in an overlap strategy's plan (strategy/overlap.hpp), and compute inside async
// EP stages.
#include "strategy/training_step_builder_internal.hpp"

namespace moesim::strategy::training_step_detail {

// One task, or a group, emitted in the overlap strategy's plan: each task on its own chain (a copy of the current
// one), merged back at the end; async EP collectives on the EP stream, joined where the plan says.
void Builder::emit_planned(int stage, const std::vector<Task>& tasks, const std::vector<PipelineTask>& pipeline_tasks) {
  const auto ranks = layout_.stage_ranks(stage);
  std::vector<const std::vector<BlockOp>*> lists;
  for (const Task& t : tasks) lists.push_back(&ops_of(t));
  wait_for_parameters(tasks);
  std::vector<Chain> chains(tasks.size());
  for (std::size_t k = 1; k < tasks.size(); ++k) chains[k] = {last_compute_, pending_, in_flight_, chunk_flying_};
  begin_task(ranks);  // a pair counts as one task for swap prefetch triggers
  std::vector<std::map<int, std::vector<OpId>>> prefetched(tasks.size());  // per task: its parts' swap-in ops
  std::size_t active = 0;
  auto activate = [&](std::size_t k) {
    if (k == active) return;
    swap_chain(chains[active]);
    swap_chain(chains[k]);
    active = k;
  };
  // A group starts when the inputs of all its tasks are there: every task's chain waits for every receive (Megatron
  // / MindSpeed wait for both the activation and the gradient on the compute stream before a pair runs).
  std::vector<std::vector<OpId>> receives(ranks.size());
  for (const Task& t : tasks) {
    if (!needs_receive(t)) continue;
    const auto& recv = received_.at(t);
    for (std::size_t i = 0; i < ranks.size(); ++i)
      receives[i].insert(receives[i].end(), recv[i].begin(), recv[i].end());
    received_.erase(t);
  }
  for (std::size_t k = 0; k < tasks.size(); ++k) {
    activate(k);
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      auto& deps = pending_[static_cast<std::size_t>(ranks[i])];
      deps.insert(deps.end(), receives[i].begin(), receives[i].end());
    }
  }
  for (const PlannedOp& step : overlap_->plan(pipeline_tasks, lists)) {
    activate(static_cast<std::size_t>(step.task));
    const BlockOp& op = (*lists[static_cast<std::size_t>(step.task)])[step.op];
    emitting_micro_batch_ = tasks[static_cast<std::size_t>(step.task)].micro_batch;
    // swap markers do not join: a copy out waits for the part's ops in flight, the next compute op joins them
    if (step.join && !step.async && op.host_copy == model::HostCopy::None) join_in_flight(ranks);
    if (op.host_copy != model::HostCopy::None) {
      host_transfer(tasks[static_cast<std::size_t>(step.task)], op, ranks,
                    prefetched[static_cast<std::size_t>(step.task)]);
    } else {
      emit_layer_op(stage, op, static_cast<long>(step.op), ranks, step.async);
    }
  }
  for (std::size_t k = 0; k < tasks.size(); ++k) {
    activate(k);
    join_chunks(ranks);
    join_in_flight(ranks);
    if (needs_send(tasks[k])) send(stage, tasks[k]);
  }
  activate(0);
  for (std::size_t k = 1; k < tasks.size(); ++k) {
    for (int r : ranks) {
      const auto i = static_cast<std::size_t>(r);
      last_compute_[i] = std::max(last_compute_[i], chains[k].last_compute[i]);
      pending_[i].insert(pending_[i].end(), chains[k].pending[i].begin(), chains[k].pending[i].end());
    }
  }
}

// Compute inside an EP stage, off the task's compute chain: on the overlap stream, after the task's ops in flight
// (the stage's previous collective), in flight itself until the task joins.
void Builder::add_stage_compute(int rank, const BlockOp& block) {
  const auto r = static_cast<std::size_t>(rank);
  Op op;
  op.name = block.name;
  op.phase = block.phase;
  op.rank = rank;
  op.stream = kEpStageCompute;
  op.compute = block.cost;
  op.deps = member_deps(rank);
  op.deps.insert(op.deps.end(), in_flight_[r].begin(), in_flight_[r].end());
  in_flight_[r].push_back(graph_.add(std::move(op)));
}

}  // namespace moesim::strategy::training_step_detail

// Training step builder: graph set-up per virtual stage, the pipeline schedule's task loop, task emission and
// pipeline sends; layer ops (collectives, expert load) in training_step_layer_ops.cpp. The other concerns:
// training_step_builder_internal.hpp.
#include "strategy/training_step_builder.hpp"

#include "model/expert_load.hpp"
#include "strategy/data_balance_sequences.hpp"
#include "strategy/expert_loads.hpp"
#include "strategy/step_shape.hpp"
#include "strategy/tp_comm_overlap_coc.hpp"
#include "strategy/training_step_builder_internal.hpp"

namespace moesim::strategy {

namespace training_step_detail {

Builder::Builder(const config::ScenarioConfig& scenario, int dp, const model::ActivationPlan& plan,
                 const OverlapStrategy* overlap, model::ChunkPlacement placement, const model::TpChunking& tp_chunking)
    : scenario_(scenario),
      overlap_(overlap),
      placement_(placement),
      p_(scenario.parallel),
      layout_(scenario.parallel, dp, scenario.topology.ranks_per_node()),
      stages_(model::assign_layers(*scenario.model, scenario.parallel, placement)),
      shape_(step_shape(scenario)),
      last_compute_(static_cast<std::size_t>(layout_.num_ranks()), -1),
      task_first_(static_cast<std::size_t>(layout_.num_ranks()), -1),
      prev_task_first_(static_cast<std::size_t>(layout_.num_ranks()), -1),
      pending_(static_cast<std::size_t>(layout_.num_ranks())),
      in_flight_(static_cast<std::size_t>(layout_.num_ranks())),
      chunk_flying_(static_cast<std::size_t>(layout_.num_ranks())),
      loads_(scenario_expert_loads(scenario)) {
  if (scenario.training->documents) {
    for (int step = 0; step < std::max(1, scenario.training->steps); ++step)
      attention_work_.push_back(scenario_attention_work(scenario, step));
  }
  graph_.num_ranks = layout_.num_ranks();
  if (std::any_of(loads_.steps.begin(), loads_.steps.end(), [](const auto& l) { return !l.uniform(); })) {
    ep_index_.assign(static_cast<std::size_t>(layout_.num_ranks()), 0);
    for (int r = 0; r < layout_.num_ranks(); ++r) {
      const auto group = layout_.ep_group(r);
      ep_index_[static_cast<std::size_t>(r)] =
          static_cast<int>(std::find(group.begin(), group.end(), r) - group.begin());
    }
  }
  layout_.set_cp_ulysses(shape_.cp_ulysses);
  for (const auto& vs : stages_) {
    struct Part {
      std::string label;
      std::vector<BlockOp> ops;  // forward
      std::vector<BlockOp> recompute;
      std::vector<BlockOp> group_recompute;  // uniform groups: the earlier layers' recompute ops, already named
      double swap_bytes = 0.0;
    };
    std::vector<Part> parts;  // in forward order
    if (vs.embedding) parts.push_back({"", model::embedding_forward(*scenario.model, shape_), {}, {}, 0.0});
    const int virtual_stage = vs.chunk * p_.pp + vs.stage;
    const std::vector<int> positions = model::layer_positions(vs);
    for (std::size_t i = 0; i < vs.slots.size(); ++i) {
      const model::LayerSlot& slot = vs.slots[i];
      const model::ActivationPlan slot_plan = plan.at_slot(vs.chunk, vs.stage, positions[i]);
      Part part{slot_label(slot), model::slot_forward(*scenario.model, shape_, slot), {}, {}, 0.0};
      part.recompute = model::recompute_ops(*scenario.model, shape_, slot, part.ops, slot_plan);
      const int layer = model::expert_load_layer(*scenario.model, slot);
      for (auto* ops : {&part.ops, &part.recompute}) {
        for (auto& op : *ops) op.layer = layer;
      }
      part.swap_bytes = model::swap_bytes(*scenario.model, shape_, slot, slot_plan, virtual_stage);
      parts.push_back(std::move(part));
    }
    if (const int group = plan.recompute_group(vs.chunk, vs.stage); group > 1) {
      // Megatron's uniform method: a group's forward re-runs as one at the start of the group's backward (that of
      // its last layer, the first the backward reaches), in forward order
      const std::size_t first_slot = vs.embedding ? 1 : 0;
      for (std::size_t i = 0; i + 1 < vs.slots.size(); ++i) {
        if (positions[i] / group != positions[i + 1] / group) continue;  // slot i ends its group
        Part& from = parts[first_slot + i];
        Part& to = parts[first_slot + i + 1];
        std::vector<BlockOp> moved = std::move(from.group_recompute);
        for (const auto& op : from.recompute) moved.push_back(named(op, from.label));
        from.recompute.clear();
        from.group_recompute.clear();
        to.group_recompute = std::move(moved);
      }
    }
    if (vs.head) parts.push_back({"", model::head_forward(*scenario.model, shape_), {}, {}, 0.0});
    Lists lists;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      for (const auto& op : parts[i].ops) lists.forward.push_back(named(op, parts[i].label));
      if (parts[i].swap_bytes > 0.0)
        lists.forward.push_back(named(host_copy(model::HostCopy::Out, i, parts[i].swap_bytes), parts[i].label));
    }
    // backward: slot by slot: [prefetch the next slot's swapped activations], [wait for this slot's], recompute,
    // dx, dw. The first slot's prefetch heads the list (issued with the previous task: see host_transfer). A split
    // backward (zero_bubble) takes everything but dw as B (backward_input) and the dw ops as W (backward_weight).
    const std::size_t n = parts.size();
    auto both = [&](BlockOp op) {
      lists.backward.push_back(op);
      lists.backward_input.push_back(std::move(op));
    };
    auto prefetch = [&](std::size_t k) {
      if (parts[k].swap_bytes > 0.0)
        both(named(host_copy(model::HostCopy::Prefetch, k, parts[k].swap_bytes), parts[k].label));
    };
    if (n > 0) prefetch(n - 1);
    for (std::size_t k = n; k-- > 0;) {
      const Part& part = parts[k];
      if (k > 0) prefetch(k - 1);
      if (part.swap_bytes > 0.0) both(host_copy(model::HostCopy::Wait, k, part.swap_bytes));
      for (const auto& op : part.group_recompute) both(op);
      for (const auto& op : part.recompute) both(named(op, part.label));
      const auto dx = model::backward_ops(part.ops, model::Pass::BackwardInput);
      const auto slot = model::column_parallel_backward(dx, model::backward_ops(part.ops, model::Pass::BackwardWeight),
                                                        shape_.sequence_parallel);
      for (const auto& op : dx) lists.backward_input.push_back(named(op, part.label));
      for (const auto& op : slot.whole) lists.backward.push_back(named(op, part.label));
      for (const auto& op : slot.weight) lists.backward_weight.push_back(named(op, part.label));
    }
    for (auto* list : {&lists.forward, &lists.backward, &lists.backward_input})
      *list = model::chunk_tp_collectives(model::expand_cp_ring(*list, shape_.cp_ring_degree()), tp_chunking);
    lists.params = model::virtual_stage_params(*scenario.model, p_, vs);
    lists_.push_back(std::move(lists));
  }
}

model::OpGraph Builder::run(const std::vector<std::vector<PipelineTask>>& orders, int micro_batches, int steps,
                            std::vector<std::size_t>* step_first_op) {
  for (int step = 0; step < steps; ++step) {
    if (step_first_op) step_first_op->push_back(graph_.ops.size());
    step_ = std::min(step, static_cast<int>(loads_.steps.size()) - 1);
    data_step_ = step;
    migrate_experts(step);
    run_step(orders, micro_batches);
  }
  return std::move(graph_);
}

void Builder::run_step(const std::vector<std::vector<PipelineTask>>& orders, int micro_batches) {
  const int pp = p_.pp;
  grad_syncs_.clear();
  std::size_t per_rank = 0;  // ops per rank, for one reservation instead of repeated regrowth of ~5M ops
  for (const Lists& lists : lists_) per_rank += lists.forward.size() + lists.backward.size() + 4;
  graph_.ops.reserve(graph_.ops.size() +
                     static_cast<std::size_t>(layout_.num_ranks()) / static_cast<std::size_t>(pp) * per_rank *
                         static_cast<std::size_t>(micro_batches) +
                     static_cast<std::size_t>(layout_.num_ranks()) * 16);
  std::vector<std::size_t> next(static_cast<std::size_t>(pp), 0);
  std::vector<std::vector<int>> backwards_left(static_cast<std::size_t>(pp), std::vector<int>(p_.vpp, micro_batches));
  std::size_t remaining = 0;
  for (const auto& order : orders) remaining += order.size();
  // per stage: its steady phase runs from the task group holding its first backward to the one holding its last
  // forward
  std::vector<SteadyPhase> steady(static_cast<std::size_t>(pp));
  std::vector<std::size_t> first_backward(static_cast<std::size_t>(pp)), last_forward(static_cast<std::size_t>(pp));
  for (int s = 0; s < pp; ++s) {
    const auto& order = orders[static_cast<std::size_t>(s)];
    const auto b = std::find_if(order.begin(), order.end(), [](const PipelineTask& t) { return !t.forward; });
    const auto f = std::find_if(order.rbegin(), order.rend(), [](const PipelineTask& t) { return t.forward; });
    first_backward[static_cast<std::size_t>(s)] = static_cast<std::size_t>(b - order.begin());
    last_forward[static_cast<std::size_t>(s)] =
        f == order.rend() ? order.size() : order.size() - 1 - static_cast<std::size_t>(f - order.rbegin());
    steady[static_cast<std::size_t>(s)].stage = s;
    steady[static_cast<std::size_t>(s)].ranks = layout_.stage_ranks(s);
  }
  while (remaining > 0) {
    bool progressed = false;
    for (int s = 0; s < pp; ++s) {
      auto& i = next[static_cast<std::size_t>(s)];
      const auto& order = orders[static_cast<std::size_t>(s)];
      while (i < order.size()) {
        // with an overlap strategy, a group of consecutive tasks is emitted together once all inputs are here
        const std::size_t n = overlap_ ? overlap_->group(order, i) : 1;
        std::vector<Task> tasks;
        for (std::size_t k = i; k < i + n; ++k) {
          const PipelineTask& t = order[k];
          tasks.push_back({t.chunk * pp + s, t.micro_batch, t.forward, t.part});
        }
        if (!std::all_of(tasks.begin(), tasks.end(), [&](const Task& t) { return ready(t); })) break;
        auto& phase = steady[static_cast<std::size_t>(s)];
        const auto in_group = [&](const std::vector<std::size_t>& index) {
          return index[static_cast<std::size_t>(s)] >= i && index[static_cast<std::size_t>(s)] < i + n;
        };
        if (in_group(first_backward)) phase.first_op = graph_.ops.size();
        if (overlap_) {
          emit_planned(s, tasks,
                       std::vector<PipelineTask>(order.begin() + long(i), order.begin() + long(i + tasks.size())));
        } else {
          emit_task(s, tasks.front());
        }
        if (in_group(last_forward)) phase.end_op = graph_.ops.size();
        for (std::size_t k = 0; k < tasks.size(); ++k, ++i) {
          --remaining;
          if (order[i].releases() &&
              --backwards_left[static_cast<std::size_t>(s)][static_cast<std::size_t>(order[i].chunk)] == 0) {
            gradient_sync(s, tasks[k].virtual_stage);
          }
        }
        progressed = true;
      }
    }
    if (!progressed) throw std::logic_error("pipeline schedule deadlocks: no stage can run its next task");
  }
  for (auto& phase : steady) {
    if (phase.end_op > phase.first_op) steady_.push_back(std::move(phase));
  }
  grad_norm_sync();
  for (int s = 0; s < pp; ++s) optimizer_step(s);
}

OpId Builder::add_compute(int rank, const std::string& name, const std::string& phase, const model::ComputeCost& cost) {
  Op op;
  op.name = name;
  op.phase = phase;
  op.rank = rank;
  op.stream = kCompute;
  op.compute = cost;
  op.deps = std::move(pending_[static_cast<std::size_t>(rank)]);
  pending_[static_cast<std::size_t>(rank)].clear();
  const OpId id = graph_.add(std::move(op));
  last_compute_[static_cast<std::size_t>(rank)] = id;
  if (task_first_[static_cast<std::size_t>(rank)] < 0) task_first_[static_cast<std::size_t>(rank)] = id;
  return id;
}

// One collective with its member ops on per-member streams and per-member deps.
std::vector<OpId> Builder::add_collective(const std::string& name, const std::string& phase, Collective c,
                                          const std::vector<int>& streams, const std::vector<std::vector<OpId>>& deps) {
  const auto ranks = c.ranks;
  const int index = graph_.add_collective(std::move(c));
  std::vector<OpId> ids;
  for (std::size_t m = 0; m < ranks.size(); ++m) {
    Op op;
    op.name = name;
    op.phase = phase;
    op.kind = model::OpKind::Collective;
    op.rank = ranks[m];
    op.stream = streams[m];
    op.collective = index;
    op.deps = deps[m];
    ids.push_back(graph_.add(std::move(op)));
  }
  return ids;
}

void Builder::emit_task(int stage, const Task& task) {
  const auto ranks = layout_.stage_ranks(stage);
  begin_task(ranks);
  std::map<int, std::vector<OpId>> prefetched;  // swap-in ops of this task's parts (per stage rank)
  wait_for_parameters({task});
  take_receive(stage, task);
  const auto& ops = ops_of(task);
  emitting_micro_batch_ = task.micro_batch;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].host_copy != model::HostCopy::None) {
      host_transfer(task, ops[i], ranks, prefetched);
      continue;
    }
    emit_layer_op(stage, ops[i], static_cast<long>(i), ranks, false);
  }
  join_chunks(ranks);
  if (needs_send(task)) send(stage, task);
}

// Activations (forward) or input gradients (backward) to the neighbouring virtual stage, rank by rank.
void Builder::send(int stage, const Task& task) {
  const int pp = p_.pp;
  const auto to = model::at_pipeline_position(placement_, pp, position(task) + (task.forward ? 1 : -1));
  const Task arrival{to.chunk * pp + to.stage, task.micro_batch, task.forward};
  std::vector<std::vector<OpId>> receives;
  if (to.stage == stage) {
    for (int r : layout_.stage_ranks(stage)) receives.push_back(member_deps(r));
    received_[arrival] = std::move(receives);
    return;
  }
  // Streams by direction along the stage ring, as Megatron's send_next / recv_prev pairs: activations go down the
  // ring (to stage + 1) and gradients back up, except in the V's second chunk, where both turn round.
  const bool chunk_runs_up = placement_ == model::ChunkPlacement::VShape && task.virtual_stage / pp == 1;
  const bool down = task.forward != chunk_runs_up;
  for (int r : layout_.stage_ranks(stage)) {
    Collective c;
    c.kind = CollectiveKind::SendRecv;
    c.ranks = {r, layout_.at_stage(r, to.stage)};
    c.dtype = shape_.dtype;
    c.elements = shape_.tokens_sp() * scenario_.model->hidden;
    const auto deps = member_deps(r);
    const std::vector<int> streams =
        down ? std::vector<int>{kSendNext, kRecvPrev} : std::vector<int>{kSendPrev, kRecvNext};
    const auto ids =
        add_collective(task.forward ? "pp_send_act" : "pp_send_grad", "pp_comm", std::move(c), streams, {deps, deps});
    receives.push_back({ids[1]});
  }
  received_[arrival] = std::move(receives);
}

void Builder::migrate_experts(int step) {
  if (step <= 0 || static_cast<std::size_t>(step) >= loads_.moves.size() || loads_.moves[step].empty()) return;
  const double bytes_per_expert = model::migrated_bytes_per_expert(scenario_);
  for (const auto& vs : stages_) {
    std::map<std::pair<int, int>, double> bytes;  // (from, to) EP index -> bytes
    for (const auto& slot : vs.slots) {
      const int layer = model::expert_load_layer(*scenario_.model, slot);
      for (const auto& move : loads_.moves[static_cast<std::size_t>(step)]) {
        if (move.layer == layer) bytes[{move.from, move.to}] += bytes_per_expert;
      }
    }
    if (bytes.empty()) continue;
    const int virtual_stage = vs.chunk * p_.pp + vs.stage;
    const auto gathers = param_gathers_.find(virtual_stage);
    const auto deps_of = [&](int rank) {
      auto deps = member_deps(rank);
      if (gathers == param_gathers_.end()) return deps;
      for (OpId id : gathers->second) {
        if (graph_.ops[static_cast<std::size_t>(id)].rank == rank) deps.push_back(id);
      }
      return deps;
    };
    // one exchange per EP group and virtual stage (an all-to-all-v of the moved experts' bytes), so that a rank's
    // transfers to and from several peers run side by side
    for (const auto& group : layout_.stage_groups(vs.stage, &model::TrainingLayout::ep_group)) {
      const std::size_t n = group.size();
      Collective c;
      c.kind = CollectiveKind::AllToAllV;
      c.ranks = group;
      c.dtype = config::Dtype::FP32;
      c.per_pair_elements.assign(n * n, 0.0);
      for (const auto& [pair, b] : bytes) {
        const double elements = b / config::bytes_per_element(config::Dtype::FP32);
        c.per_pair_elements[static_cast<std::size_t>(pair.first) * n + static_cast<std::size_t>(pair.second)] =
            elements;
        c.elements += elements;
      }
      std::vector<std::vector<OpId>> deps;
      for (int r : group) deps.push_back(deps_of(r));
      const auto ids = add_collective("expert_migration", "expert_migration", std::move(c),
                                      std::vector<int>(n, kExpertMigration), deps);
      auto& into = migrations_[virtual_stage];
      into.insert(into.end(), ids.begin(), ids.end());
    }
  }
}

}  // namespace training_step_detail

using training_step_detail::Builder;

TrainingStep build_training_step(const config::ScenarioConfig& scenario, const PipelineSchedule& schedule,
                                 const TrainingStepOptions& options) {
  if (!scenario.training || !scenario.model)
    throw std::invalid_argument("build_training_step: not a training scenario");
  const auto& p = scenario.parallel;
  TrainingStep step;
  step.schedule = schedule.name();
  step.full_dp = p.dp;
  // documents make replicas differ (their sequences' attention work): every replica is simulated
  const bool replicas_alike = !scenario.training->documents;
  step.simulated_dp = !options.reduce_dp || !replicas_alike ? p.dp
                      : options.simulated_dp > 0            ? options.simulated_dp
                                                            : reduced_dp(p);
  step.micro_batches = config::micro_batches_per_step(scenario);
  step.stage_orders = stage_orders(schedule, scenario);
  step.activation_plan = resolve_memory_plan(scenario, step.stage_orders).plan;
  step.steps = std::max(1, scenario.training->steps);
  const auto overlap = make_overlap_strategy(scenario);
  if (overlap) step.overlap = overlap->name();
  Builder builder(scenario, step.simulated_dp, step.activation_plan, overlap.get(), schedule.placement(),
                  tp_chunking(scenario));
  step.graph = builder.run(step.stage_orders, step.micro_batches, step.steps, &step.step_first_op);
  step.steady_phases = builder.take_steady_phases();
  return step;
}

}  // namespace moesim::strategy

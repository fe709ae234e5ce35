// Training step builder: graph set-up per virtual stage, the pipeline schedule's task loop, task emission, layer
// collectives and pipeline sends. The other concerns: training_step_builder_internal.hpp.
#include "strategy/training_step_builder.hpp"

#include "model/expert_load.hpp"
#include "strategy/context_parallel.hpp"
#include "strategy/expert_balancing_balanced_moe.hpp"
#include "strategy/expert_placement_balanced.hpp"
#include "strategy/tp_comm_overlap_coc.hpp"
#include "strategy/training_step_builder_internal.hpp"

namespace moesim::strategy {

namespace training_step_detail {

Builder::Builder(const config::ScenarioConfig& scenario, int dp, const model::ActivationPlan& plan,
                 const OverlapStrategy* overlap, model::ChunkPlacement placement,
                 const model::TpChunking& tp_chunking)
    : scenario_(scenario),
      overlap_(overlap),
      placement_(placement),
      p_(scenario.parallel),
      layout_(scenario.parallel, dp, scenario.topology.ranks_per_node()),
      stages_(model::assign_layers(*scenario.model, scenario.parallel, placement)),
      shape_(model::training_shape(scenario)),
      last_compute_(static_cast<std::size_t>(layout_.num_ranks()), -1),
      task_first_(static_cast<std::size_t>(layout_.num_ranks()), -1),
      prev_task_first_(static_cast<std::size_t>(layout_.num_ranks()), -1),
      pending_(static_cast<std::size_t>(layout_.num_ranks())),
      in_flight_(static_cast<std::size_t>(layout_.num_ranks())),
      chunk_flying_(static_cast<std::size_t>(layout_.num_ranks())),
      expert_load_(model::expert_load(scenario, expert_placement(scenario), hot_experts(scenario))) {
  graph_.num_ranks = layout_.num_ranks();
  if (!expert_load_.uniform()) {
    ep_index_.assign(static_cast<std::size_t>(layout_.num_ranks()), 0);
    for (int r = 0; r < layout_.num_ranks(); ++r) {
      const auto group = layout_.ep_group(r);
      ep_index_[static_cast<std::size_t>(r)] =
          static_cast<int>(std::find(group.begin(), group.end(), r) - group.begin());
    }
  }
  shape_.moe_comm = moe_comm_plan(scenario);
  shape_.cp_algorithm = cp_algorithm(scenario);
  shape_.hot_experts = hot_experts(scenario);
  for (const auto& vs : stages_) {
    struct Part {
      std::string label;
      std::vector<BlockOp> ops;  // forward
      std::vector<BlockOp> recompute;
      double swap_bytes = 0.0;
    };
    std::vector<Part> parts;  // in forward order
    if (vs.embedding) parts.push_back({"", model::embedding_forward(*scenario.model, shape_), {}, 0.0});
    for (const auto& slot : vs.slots) {
      Part part{slot_label(slot), model::slot_forward(*scenario.model, shape_, slot), {}, 0.0};
      part.recompute = model::recompute_ops(*scenario.model, shape_, slot, part.ops, plan);
      // the model layer whose expert load the slot's MoE ops follow (an MTP module: the last layer's)
      const int layer = slot.kind == model::SlotKind::Layer ? slot.index
                        : slot.kind == model::SlotKind::Mtp ? scenario.model->num_layers - 1
                                                            : -1;
      for (auto* ops : {&part.ops, &part.recompute}) {
        for (auto& op : *ops) op.layer = layer;
      }
      part.swap_bytes = model::swap_bytes(*scenario.model, shape_, slot, plan, vs.chunk * p_.pp + vs.stage);
      parts.push_back(std::move(part));
    }
    if (vs.head) parts.push_back({"", model::head_forward(*scenario.model, shape_), {}, 0.0});
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
      for (const auto& op : part.recompute) both(named(op, part.label));
      const auto dx = model::backward_ops(part.ops, model::Pass::BackwardInput);
      const auto slot = model::column_parallel_backward(dx, model::backward_ops(part.ops, model::Pass::BackwardWeight),
                                                        shape_.sequence_parallel);
      for (const auto& op : dx) lists.backward_input.push_back(named(op, part.label));
      for (const auto& op : slot.whole) lists.backward.push_back(named(op, part.label));
      for (const auto& op : slot.weight) lists.backward_weight.push_back(named(op, part.label));
    }
    for (auto* list : {&lists.forward, &lists.backward, &lists.backward_input})
      *list = model::chunk_tp_collectives(model::expand_cp_ring(*list, p_.cp), tp_chunking);
    lists.params = model::virtual_stage_params(*scenario.model, p_, vs);
    lists_.push_back(std::move(lists));
  }
}

model::OpGraph Builder::run(const std::vector<std::vector<PipelineTask>>& orders, int micro_batches, int steps,
                            std::vector<std::size_t>* step_first_op) {
  for (int step = 0; step < steps; ++step) {
    if (step_first_op) step_first_op->push_back(graph_.ops.size());
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

std::vector<std::vector<int>> Builder::groups(int stage, model::GroupKind kind) const {
  using L = model::TrainingLayout;
  switch (kind) {
    case model::GroupKind::Tp:
      return layout_.stage_groups(stage, &L::tp_group);
    case model::GroupKind::Cp:
      return layout_.stage_groups(stage, &L::cp_group);
    case model::GroupKind::Ep:
      return layout_.stage_groups(stage, &L::ep_group);
    case model::GroupKind::ExpertTp:
      return layout_.stage_groups(stage, &L::expert_tp_group);
    case model::GroupKind::EpOuter:
      return checked(layout_.stage_groups(stage, &L::ep_outer_group), shape_.moe_comm.outer);
    case model::GroupKind::EpInner:
      return checked(layout_.stage_groups(stage, &L::ep_inner_group), shape_.moe_comm.inner);
  }
  return {};
}

// The simulated (DP-reduced) layout must split EP groups over nodes as the plan (full layout) does.
std::vector<std::vector<int>> Builder::checked(std::vector<std::vector<int>> groups, int size) {
  for (const auto& g : groups) {
    if (static_cast<int>(g.size()) != size)
      throw std::invalid_argument("node-split EP group of " + std::to_string(g.size()) + " ranks in the simulated " +
                                  "layout, " + std::to_string(size) + " in the full one; run with --full");
  }
  return groups;
}

// async: on the EP stream of its communicator, after the task's ops in flight, tracked in flight until a join
// (overlap plans); else on the layer stream, pending.
void Builder::layer_collective(int stage, const BlockOp& op, bool async, long index) {
  // A chunked collective (chunk_async: CoC chunks, ring shifts, the column-parallel backward's pair) stays on the
  // layer stream, with its group's other collectives (one HCCL stream per process group), but off the compute chain.
  const int async_stream = op.group == model::GroupKind::EpOuter ? kEpOuterComm : kEpComm;
  async = async && !op.chunk_async;
  for (const auto& ranks : groups(stage, op.group)) {
    Collective c;
    c.kind = op.kind;
    c.ranks = ranks;
    c.dtype = op.dtype;
    c.elements = op.elements;
    const std::size_t n = ranks.size();
    if (op.hot_broadcast > 0) c.root = expert_load_.hot_owner_of(op.layer, op.hot_broadcast - 1);  // in EP order
    if (op.kind == CollectiveKind::AllToAllV && op.ring) {  // ring shift: all of it to the next member
      c.per_pair_elements.assign(n * n, 0.0);
      for (std::size_t i = 0; i < n; ++i) c.per_pair_elements[i * n + (i + 1) % n] = op.elements;
    } else if (op.kind == CollectiveKind::AllToAllV && op.expert_flow != 0 && !ep_index_.empty()) {
      // expert load: the rows for (or from) a rank's experts follow its share of the layer's rows; a group of n of
      // the EP group's ep members (hierarchical: one node) carries ep / n of each sender's rows in total
      c.per_pair_elements.assign(n * n, 0.0);
      const double scale = op.elements * expert_load_.ep_size / double(n);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
          if (i == j) continue;
          const int expert_rank = ranks[op.expert_flow > 0 ? j : i];
          c.per_pair_elements[i * n + j] =
              scale * expert_load_.receive_share(op.layer, ep_index_[static_cast<std::size_t>(expert_rank)]);
        }
      }
    } else if (op.kind == CollectiveKind::AllToAllV) {  // uniform routing: every rank sends elements / n to each peer
      c.per_pair_elements.assign(n * n, op.elements / double(n));
      for (std::size_t i = 0; i < n; ++i) c.per_pair_elements[i * n + i] = 0.0;
    }
    std::vector<std::vector<OpId>> deps;
    for (int r : ranks) {
      deps.push_back(member_deps(r));
      if (async) {
        const auto& flying = in_flight_[static_cast<std::size_t>(r)];
        deps.back().insert(deps.back().end(), flying.begin(), flying.end());
      }
    }
    const auto ids =
        add_collective(op.name, op.phase, std::move(c), std::vector<int>(n, async ? async_stream : kLayerComm), deps);
    for (std::size_t m = 0; m < n; ++m) {
      const auto r = static_cast<std::size_t>(ranks[m]);
      if (op.chunk_async) {
        chunk_flying_[r].push_back({index, ids[m]});
      } else {
        (async ? in_flight_ : pending_)[r].push_back(ids[m]);
      }
    }
  }
}

void Builder::emit_task(int stage, const Task& task) {
  const auto ranks = layout_.stage_ranks(stage);
  begin_task(ranks);
  std::map<int, std::vector<OpId>> prefetched;  // swap-in ops of this task's parts (per stage rank)
  take_receive(stage, task);
  const auto& ops = ops_of(task);
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

void Builder::emit_layer_op(int stage, const BlockOp& op, long index, const std::vector<int>& ranks, bool async) {
  if (!op.chunked) join_chunks(ranks);
  if (op.collective) {
    layer_collective(stage, op, async, index);
    return;
  }
  if (op.chunk_input_back > 0) wait_chunk_input(ranks, index - op.chunk_input_back);
  if (async) {
    for (int r : ranks) add_stage_compute(r, op);
  } else {
    for (int r : ranks) add_compute(r, op.name, op.phase, loaded_cost(op, r));
  }
}

// Routed-expert compute (grouped matmuls of a MoE layer) on `rank`: its rows, hence FLOPs and activation bytes,
// scale with the rank's expert load; the weights are read once either way.
model::ComputeCost Builder::loaded_cost(const BlockOp& op, int rank) const {
  if (ep_index_.empty() || op.layer < 0 || op.cost.op_class != config::OpClass::GroupedMatmul) return op.cost;
  const double f = expert_load_.factor(op.layer, ep_index_[static_cast<std::size_t>(rank)]);
  model::ComputeCost cost = op.cost;
  cost.flops *= f;
  cost.bytes = op.weight_bytes + (op.cost.bytes - op.weight_bytes) * f;
  return cost;
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
  step.simulated_dp = !options.reduce_dp ? p.dp : options.simulated_dp > 0 ? options.simulated_dp : reduced_dp(p);
  step.micro_batches = config::micro_batches_per_step(scenario);
  for (int s = 0; s < p.pp; ++s) step.stage_orders.push_back(schedule.stage_order(s, p.pp, p.vpp, step.micro_batches));
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

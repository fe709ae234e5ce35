#include "strategy/training_step_builder.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "model/activation_recompute.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "strategy/moe_comm.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"
#include "strategy/overlap.hpp"
#include "strategy/training_dp_reduction.hpp"

namespace moesim::strategy {

using model::BlockOp;
using model::Collective;
using model::CollectiveKind;
using model::Op;
using model::OpId;

namespace {

constexpr int kCompute = 0, kLayerComm = 1, kSendNext = 2, kRecvPrev = 3, kSendPrev = 4, kRecvNext = 5, kDpComm = 6;
constexpr int kSwapOut = 7, kSwapIn = 8;  // device -> host and host -> device copies of swapped activations
// Async EP work of an overlap strategy: one stream per EP communicator (torch_npu runs each process group's HCCL
// collectives on its own stream): the EP group (or hierarchical EP's inner group) and expert-TP groups on 9, the
// outer (cross-node) group of hierarchical EP on 10; the compute inside an EP stage (token permutation between two
// of its collectives) on the overlap stream 11 (MindSpeed fb-overlap's dispatcher runs its permutation there).
constexpr int kEpComm = 9, kEpOuterComm = 10, kEpStageCompute = 11;
// Distributed optimizer step per parameter of the shard: read fp32 grad, master, m, v; write master, m, v (fp32)
// and the bf16 weight: 30 bytes; ~10 flops (Adam update). Vector class.
constexpr double kOptimizerBytesPerParam = 30.0;
constexpr double kOptimizerFlopsPerParam = 10.0;

struct Task {
  int virtual_stage = 0;
  int micro_batch = 0;
  bool forward = true;
  BackwardPart part = BackwardPart::Whole;  // not part of the key: a gradient arrives for B or Whole alike
  bool operator<(const Task& o) const {
    if (virtual_stage != o.virtual_stage) return virtual_stage < o.virtual_stage;
    if (micro_batch != o.micro_batch) return micro_batch < o.micro_batch;
    return forward < o.forward;
  }
};

std::string slot_label(const model::LayerSlot& slot) {
  switch (slot.kind) {
    case model::SlotKind::Layer:
      return "L" + std::to_string(slot.index) + ".";
    case model::SlotKind::Mtp:
      return "MTP" + std::to_string(slot.index) + ".";
    case model::SlotKind::Padding:
      return "pad.";
  }
  return "";
}

// A swap marker in a task's op list (model::HostCopy).
BlockOp host_copy(model::HostCopy kind, std::size_t part, double bytes) {
  BlockOp op;
  op.name = kind == model::HostCopy::Out ? "swap_out" : "swap_in";
  op.host_copy = kind;
  op.part = static_cast<int>(part);
  op.cost.bytes = bytes;
  return op;
}

class Builder {
 public:
  Builder(const config::ScenarioConfig& scenario, int dp, const model::ActivationPlan& plan,
          const OverlapStrategy* overlap)
      : scenario_(scenario),
        overlap_(overlap),
        p_(scenario.parallel),
        layout_(scenario.parallel, dp, scenario.topology.ranks_per_node()),
        stages_(model::assign_layers(*scenario.model, scenario.parallel)),
        shape_(model::training_shape(scenario)),
        last_compute_(static_cast<std::size_t>(layout_.num_ranks()), -1),
        task_first_(static_cast<std::size_t>(layout_.num_ranks()), -1),
        prev_task_first_(static_cast<std::size_t>(layout_.num_ranks()), -1),
        pending_(static_cast<std::size_t>(layout_.num_ranks())),
        in_flight_(static_cast<std::size_t>(layout_.num_ranks())) {
    graph_.num_ranks = layout_.num_ranks();
    shape_.moe_comm = moe_comm_plan(scenario);
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
        for (const auto& op : model::backward_ops(part.ops, model::Pass::BackwardInput)) both(named(op, part.label));
        for (const auto& op : model::backward_ops(part.ops, model::Pass::BackwardWeight)) {
          lists.backward.push_back(named(op, part.label));
          lists.backward_weight.push_back(lists.backward.back());
        }
      }
      lists.params = model::virtual_stage_params(*scenario.model, p_, vs);
      lists_.push_back(std::move(lists));
    }
  }

  // `steps` consecutive steps; each step's first forward waits for the previous step's parameter AllGathers.
  model::OpGraph run(const std::vector<std::vector<PipelineTask>>& orders, int micro_batches, int steps,
                     std::vector<std::size_t>* step_first_op) {
    for (int step = 0; step < steps; ++step) {
      if (step_first_op) step_first_op->push_back(graph_.ops.size());
      run_step(orders, micro_batches);
    }
    return std::move(graph_);
  }

 private:
  void run_step(const std::vector<std::vector<PipelineTask>>& orders, int micro_batches) {
    const int pp = p_.pp;
    grad_syncs_.clear();
    std::size_t per_rank = 0;  // ops per rank, for one reservation instead of repeated regrowth of ~5M ops
    for (const Lists& lists : lists_) per_rank += lists.forward.size() + lists.backward.size() + 4;
    graph_.ops.reserve(graph_.ops.size() + static_cast<std::size_t>(layout_.num_ranks()) / static_cast<std::size_t>(pp) * per_rank *
                           static_cast<std::size_t>(micro_batches) +
                       static_cast<std::size_t>(layout_.num_ranks()) * 16);
    std::vector<std::size_t> next(static_cast<std::size_t>(pp), 0);
    std::vector<std::vector<int>> backwards_left(static_cast<std::size_t>(pp), std::vector<int>(p_.vpp, micro_batches));
    std::size_t remaining = 0;
    for (const auto& order : orders) remaining += order.size();
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
          if (overlap_) {
            emit_planned(s, tasks,
                         std::vector<PipelineTask>(order.begin() + long(i), order.begin() + long(i + tasks.size())));
          } else {
            emit_task(s, tasks.front());
          }
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
    grad_norm_sync();
    for (int s = 0; s < pp; ++s) optimizer_step(s);
  }

  struct Lists {
    std::vector<BlockOp> forward, backward;                // backward: Whole (dx then dw, slot by slot)
    std::vector<BlockOp> backward_input, backward_weight;  // B (dx) and W (dw), slot by slot
    model::StageParams params;
  };

  // A task's own dependency state on every rank: its last compute op, the collectives its next op waits for, and
  // its async (EP stream) collectives not joined yet. The active chain lives in the members below.
  struct Chain {
    std::vector<OpId> last_compute;
    std::vector<std::vector<OpId>> pending, in_flight;
  };

  void swap_chain(Chain& c) {
    std::swap(last_compute_, c.last_compute);
    std::swap(pending_, c.pending);
    std::swap(in_flight_, c.in_flight);
  }

  const std::vector<BlockOp>& ops_of(const Task& t) const {
    const Lists& lists = lists_[static_cast<std::size_t>(t.virtual_stage)];
    if (t.forward) return lists.forward;
    switch (t.part) {
      case BackwardPart::Input:
        return lists.backward_input;
      case BackwardPart::Weight:
        return lists.backward_weight;
      case BackwardPart::Whole:
        break;
    }
    return lists.backward;
  }

  bool ready(const Task& t) const { return !needs_receive(t) || received_.count(t) > 0; }

  void take_receive(int stage, const Task& task) {
    if (!needs_receive(task)) return;
    const auto ranks = layout_.stage_ranks(stage);
    const auto& recv = received_.at(task);
    for (std::size_t i = 0; i < ranks.size(); ++i) pending_[static_cast<std::size_t>(ranks[i])].push_back(recv[i]);
    received_.erase(task);
  }

  void join_in_flight(const std::vector<int>& ranks) {
    for (int r : ranks) {
      auto& flying = in_flight_[static_cast<std::size_t>(r)];
      auto& deps = pending_[static_cast<std::size_t>(r)];
      deps.insert(deps.end(), flying.begin(), flying.end());
      flying.clear();
    }
  }

  // One task, or a group, emitted in the overlap strategy's plan: each task on its own chain (a copy of the current
  // one), merged back at the end; async EP collectives on the EP stream, joined where the plan says.
  void emit_planned(int stage, const std::vector<Task>& tasks, const std::vector<PipelineTask>& pipeline_tasks) {
    const auto ranks = layout_.stage_ranks(stage);
    std::vector<const std::vector<BlockOp>*> lists;
    for (const Task& t : tasks) lists.push_back(&ops_of(t));
    std::vector<Chain> chains(tasks.size());
    for (std::size_t k = 1; k < tasks.size(); ++k) chains[k] = {last_compute_, pending_, in_flight_};
    begin_task(ranks);  // a pair counts as one task for swap prefetch triggers
    std::vector<std::map<int, std::vector<OpId>>> prefetched(tasks.size());  // per task: its parts' swap-in ops
    std::size_t active = 0;
    auto activate = [&](std::size_t k) {
      if (k == active) return;
      swap_chain(chains[active]);
      swap_chain(chains[k]);
      active = k;
    };
    for (std::size_t k = 0; k < tasks.size(); ++k) {
      activate(k);
      take_receive(stage, tasks[k]);
    }
    for (const PlannedOp& step : overlap_->plan(pipeline_tasks, lists)) {
      activate(static_cast<std::size_t>(step.task));
      const BlockOp& op = (*lists[static_cast<std::size_t>(step.task)])[step.op];
      // swap markers do not join: a copy out waits for the part's ops in flight, the next compute op joins them
      if (step.join && !step.async && op.host_copy == model::HostCopy::None) join_in_flight(ranks);
      if (op.host_copy != model::HostCopy::None) {
        host_transfer(tasks[static_cast<std::size_t>(step.task)], op, ranks,
                      prefetched[static_cast<std::size_t>(step.task)]);
      } else if (op.collective) {
        layer_collective(stage, op, step.async);
      } else if (step.async) {
        for (int r : ranks) add_stage_compute(r, op);
      } else {
        for (int r : ranks) add_compute(r, op.name, op.phase, op.cost);
      }
    }
    for (std::size_t k = 0; k < tasks.size(); ++k) {
      activate(k);
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

  static BlockOp named(BlockOp op, const std::string& label) {
    op.name = label + op.name;
    return op;
  }

  bool needs_receive(const Task& t) const {
    const int last = p_.pp * p_.vpp - 1;
    if (!t.forward && t.part == BackwardPart::Weight) return false;
    return t.forward ? t.virtual_stage > 0 : t.virtual_stage < last;
  }

  std::vector<OpId> member_deps(int rank) const {
    std::vector<OpId> deps = pending_[static_cast<std::size_t>(rank)];
    const OpId last = last_compute_[static_cast<std::size_t>(rank)];
    if (last >= 0) deps.push_back(last);
    return deps;
  }

  OpId add_compute(int rank, const std::string& name, const std::string& phase, const model::ComputeCost& cost) {
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

  // Compute inside an EP stage, off the task's compute chain: on the overlap stream, after the task's ops in flight
  // (the stage's previous collective), in flight itself until the task joins.
  void add_stage_compute(int rank, const BlockOp& block) {
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

  // One collective with its member ops on per-member streams and per-member deps.
  std::vector<OpId> add_collective(const std::string& name, const std::string& phase, Collective c,
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

  std::vector<std::vector<int>> groups(int stage, model::GroupKind kind) const {
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
  static std::vector<std::vector<int>> checked(std::vector<std::vector<int>> groups, int size) {
    for (const auto& g : groups) {
      if (static_cast<int>(g.size()) != size)
        throw std::invalid_argument("node-split EP group of " + std::to_string(g.size()) + " ranks in the simulated " +
                                    "layout, " + std::to_string(size) + " in the full one; run with --full");
    }
    return groups;
  }

  // async: on the EP stream of its communicator, after the task's ops in flight, tracked in flight until a join
  // (overlap plans); else on the layer stream, pending.
  void layer_collective(int stage, const BlockOp& op, bool async = false) {
    const int async_stream = op.group == model::GroupKind::EpOuter ? kEpOuterComm : kEpComm;
    for (const auto& ranks : groups(stage, op.group)) {
      Collective c;
      c.kind = op.kind;
      c.ranks = ranks;
      c.dtype = op.dtype;
      c.elements = op.elements;
      const std::size_t n = ranks.size();
      if (op.kind == CollectiveKind::AllToAllV) {  // uniform routing: every rank sends elements / n to each peer
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
      auto& into = async ? in_flight_ : pending_;
      for (std::size_t m = 0; m < n; ++m) into[static_cast<std::size_t>(ranks[m])].push_back(ids[m]);
    }
  }

  // Swap prefetch triggers: the first compute op of the task being emitted and of the one before it, per rank.
  void begin_task(const std::vector<int>& ranks) {
    for (int r : ranks) {
      prev_task_first_[static_cast<std::size_t>(r)] = task_first_[static_cast<std::size_t>(r)];
      task_first_[static_cast<std::size_t>(r)] = -1;
    }
  }

  void emit_task(int stage, const Task& task) {
    const auto ranks = layout_.stage_ranks(stage);
    begin_task(ranks);
    std::map<int, std::vector<OpId>> prefetched;  // swap-in ops of this task's parts (per stage rank)
    take_receive(stage, task);
    for (const BlockOp& op : ops_of(task)) {
      if (op.host_copy != model::HostCopy::None) {
        host_transfer(task, op, ranks, prefetched);
        continue;
      }
      if (op.collective) {
        layer_collective(stage, op);
        continue;
      }
      for (int r : ranks) add_compute(r, op.name, op.phase, op.cost);
    }
    if (needs_send(task)) send(stage, task);
  }

  // Swapped activations over the host link (one direction per stream, bytes / host-link bandwidth): copied out once
  // the part's forward ends; copied back from the start of the previous part's backward (the first part's from the
  // start of the stage's previous task), and only after they are out; the part's backward waits for them.
  void host_transfer(const Task& task, const BlockOp& op, const std::vector<int>& ranks,
                     std::map<int, std::vector<OpId>>& prefetched) {
    const SwapKey key{task.virtual_stage, task.micro_batch, op.part};
    if (op.host_copy == model::HostCopy::Wait) {
      const auto& ids = prefetched.at(op.part);
      for (std::size_t i = 0; i < ranks.size(); ++i) pending_[static_cast<std::size_t>(ranks[i])].push_back(ids[i]);
      return;
    }
    const double bandwidth = scenario_.topology.device.host_link_bandwidth_bytes_per_s.value;
    if (!(bandwidth > 0.0)) throw std::invalid_argument("swapping activations needs the device's host link bandwidth");
    const bool out = op.host_copy == model::HostCopy::Out;
    std::vector<OpId> ids;
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      const auto r = static_cast<std::size_t>(ranks[i]);
      Op copy;
      copy.name = op.name;
      copy.phase = out ? "swap_out" : "swap_in";
      copy.kind = model::OpKind::Delay;
      copy.rank = ranks[i];
      copy.stream = out ? kSwapOut : kSwapIn;
      copy.delay_s = op.cost.bytes / bandwidth;
      if (out) {  // after the part's forward, including its async EP work
        if (last_compute_[r] >= 0) copy.deps.push_back(last_compute_[r]);
        copy.deps.insert(copy.deps.end(), in_flight_[r].begin(), in_flight_[r].end());
      } else {
        copy.deps.push_back(swapped_out_.at(key)[i]);
        const OpId trigger = task_first_[r] >= 0 ? last_compute_[r] : prev_task_first_[r];
        if (trigger >= 0) copy.deps.push_back(trigger);
      }
      ids.push_back(graph_.add(std::move(copy)));
    }
    if (out) {
      swapped_out_[key] = std::move(ids);
    } else {
      swapped_out_.erase(key);
      prefetched[op.part] = std::move(ids);
    }
  }

  bool needs_send(const Task& t) const {
    const int last = p_.pp * p_.vpp - 1;
    if (!t.forward && t.part == BackwardPart::Weight) return false;
    return t.forward ? t.virtual_stage < last : t.virtual_stage > 0;
  }

  // Activations (forward) or input gradients (backward) to the neighbouring virtual stage, rank by rank.
  void send(int stage, const Task& task) {
    const int pp = p_.pp;
    const int to_virtual = task.virtual_stage + (task.forward ? 1 : -1);
    const int to_stage = to_virtual % pp;
    const Task arrival{to_virtual, task.micro_batch, task.forward};
    std::vector<OpId> receives;
    for (int r : layout_.stage_ranks(stage)) {
      Collective c;
      c.kind = CollectiveKind::SendRecv;
      c.ranks = {r, layout_.at_stage(r, to_stage)};
      c.dtype = shape_.dtype;
      c.elements = shape_.tokens_sp() * scenario_.model->hidden;
      const auto deps = member_deps(r);
      const std::vector<int> streams =
          task.forward ? std::vector<int>{kSendNext, kRecvPrev} : std::vector<int>{kSendPrev, kRecvNext};
      const auto ids =
          add_collective(task.forward ? "pp_send_act" : "pp_send_grad", "pp_comm", std::move(c), streams, {deps, deps});
      receives.push_back(ids[1]);
    }
    received_[arrival] = std::move(receives);
  }

  void dp_collective(int stage, const std::string& name, CollectiveKind kind, double elements_per_rank,
                     config::Dtype dtype, bool expert, std::vector<OpId>* ids_out) {
    using L = model::TrainingLayout;
    const auto all = layout_.stage_groups(stage, expert ? &L::expert_dp_group : &L::dense_dp_group);
    if (all.empty() || all.front().size() < 2 || elements_per_rank <= 0.0) return;
    const int simulated = static_cast<int>(all.front().size());
    const double full_groups = expert
                                   ? double(p_.tp) * p_.cp * p_.dp / (double(p_.expert_parallel_size()) * p_.expert_tp)
                                   : double(p_.dp) * p_.cp;
    const double scale = dp_volume_scale(static_cast<int>(full_groups), simulated);
    for (const auto& ranks : all) {
      Collective c;
      c.kind = kind;
      c.ranks = ranks;
      c.dtype = dtype;
      // nccl-tests size: ReduceScatter input / AllGather output = the whole buffer = shard x group size
      c.elements = elements_per_rank * scale;
      std::vector<std::vector<OpId>> deps;
      for (int r : ranks) deps.push_back(member_deps(r));
      auto ids = add_collective(name, "dp_comm", std::move(c), std::vector<int>(ranks.size(), kDpComm), deps);
      // Reduction: a ring of `simulated` members takes full - simulated fewer latency steps; add them back.
      const double missing_s = (full_groups - simulated) * ring_step_latency_s(scenario_.topology, ranks);
      if (missing_s > 0.0) {
        for (std::size_t m = 0; m < ranks.size(); ++m) {
          Op delay;
          delay.name = name + "_lat";
          delay.phase = "dp_comm";
          delay.kind = model::OpKind::Delay;
          delay.rank = ranks[m];
          delay.stream = kDpComm;
          delay.delay_s = missing_s;
          delay.deps = {ids[m]};
          ids[m] = graph_.add(std::move(delay));
        }
      }
      if (ids_out) ids_out->insert(ids_out->end(), ids.begin(), ids.end());
    }
  }

  // Gradient clipping needs the global gradient norm: one fp32 AllReduce over each pipeline group after the rank's
  // gradient reduce-scatters (the data-parallel part of the norm is already summed by them). The optimizer
  // therefore starts only when every stage has finished its backward, as in Megatron.
  void grad_norm_sync() {
    if (p_.pp < 2) return;
    for (int r : layout_.stage_ranks(0)) {
      Collective c;
      c.kind = CollectiveKind::AllReduce;
      c.dtype = config::Dtype::FP32;
      c.elements = 1.0;
      std::vector<OpId> all;  // every member waits for all of them: the wait is idle time, not communication
      for (int s = 0; s < p_.pp; ++s) {
        const int member = layout_.at_stage(r, s);
        c.ranks.push_back(member);
        const auto deps = member_deps(member);
        all.insert(all.end(), deps.begin(), deps.end());
        const auto& syncs = grad_syncs_[member];
        all.insert(all.end(), syncs.begin(), syncs.end());
      }
      const auto members = c.ranks;
      const auto ids =
          add_collective("grad_norm_ar", "dp_comm", std::move(c), std::vector<int>(members.size(), kDpComm),
                         std::vector<std::vector<OpId>>(members.size(), all));
      for (std::size_t m = 0; m < members.size(); ++m) grad_syncs_[members[m]].push_back(ids[m]);
    }
  }

  // ZeRO-1: the chunk's fp32 gradients are reduce-scattered as soon as its last backward is done.
  void gradient_sync(int stage, int virtual_stage) {
    const auto& params = lists_[static_cast<std::size_t>(virtual_stage)].params;
    std::vector<OpId> ids;
    dp_collective(stage, "grad_rs", CollectiveKind::ReduceScatter, params.dense, config::Dtype::FP32, false, &ids);
    dp_collective(stage, "expert_grad_rs", CollectiveKind::ReduceScatter, params.expert, config::Dtype::FP32, true,
                  &ids);
    for (OpId id : ids) grad_syncs_[graph_.ops[static_cast<std::size_t>(id)].rank].push_back(id);
  }

  void optimizer_step(int stage) {
    double dense = 0.0, expert = 0.0;
    for (const auto& vs : stages_) {
      if (vs.stage != stage) continue;
      dense += lists_[static_cast<std::size_t>(vs.chunk * p_.pp + stage)].params.dense;
      expert += lists_[static_cast<std::size_t>(vs.chunk * p_.pp + stage)].params.expert;
    }
    const double expert_shards = double(p_.tp) * p_.cp * p_.dp / (double(p_.expert_parallel_size()) * p_.expert_tp);
    const double shard = dense / (double(p_.dp) * p_.cp) + expert / expert_shards;
    const model::ComputeCost cost{config::OpClass::Vector, shape_.dtype, kOptimizerFlopsPerParam * shard,
                                  kOptimizerBytesPerParam * shard};
    for (int r : layout_.stage_ranks(stage)) {
      auto& deps = pending_[static_cast<std::size_t>(r)];
      auto it = grad_syncs_.find(r);
      if (it != grad_syncs_.end()) deps.insert(deps.end(), it->second.begin(), it->second.end());
      add_compute(r, "optimizer", "optimizer", cost);
    }
    std::vector<OpId> gathers;
    for (const auto& vs : stages_) {  // updated bf16 parameters back to every replica
      if (vs.stage != stage) continue;
      const auto& params = lists_[static_cast<std::size_t>(vs.chunk * p_.pp + stage)].params;
      dp_collective(stage, "param_ag", CollectiveKind::AllGather, params.dense, shape_.dtype, false, &gathers);
      dp_collective(stage, "expert_param_ag", CollectiveKind::AllGather, params.expert, shape_.dtype, true, &gathers);
    }
    // a next step's first forward on the rank waits for them
    for (OpId id : gathers)
      pending_[static_cast<std::size_t>(graph_.ops[static_cast<std::size_t>(id)].rank)].push_back(id);
  }

  const config::ScenarioConfig& scenario_;
  const OverlapStrategy* overlap_;  // nullptr: every collective blocks the next compute op of its task
  const config::ParallelLayout& p_;
  model::TrainingLayout layout_;
  std::vector<model::VirtualStage> stages_;
  model::TrainingShape shape_;
  std::vector<Lists> lists_;  // per virtual stage
  model::OpGraph graph_;
  std::vector<OpId> last_compute_;
  std::vector<OpId> task_first_, prev_task_first_;  // per rank: first compute op of the current / previous task
  std::vector<std::vector<OpId>> pending_;      // per rank: ops the next op of the compute chain waits for
  std::vector<std::vector<OpId>> in_flight_;    // per rank: async EP collectives of the chain not joined yet
  std::map<Task, std::vector<OpId>> received_;  // receive ops (per stage rank) of data not consumed yet
  std::map<int, std::vector<OpId>> grad_syncs_;
  struct SwapKey {
    int virtual_stage, micro_batch, part;
    bool operator<(const SwapKey& o) const {
      if (virtual_stage != o.virtual_stage) return virtual_stage < o.virtual_stage;
      if (micro_batch != o.micro_batch) return micro_batch < o.micro_batch;
      return part < o.part;
    }
  };
  std::map<SwapKey, std::vector<OpId>> swapped_out_;  // swap-out ops (per stage rank) not copied back yet
};

}  // namespace

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
  Builder builder(scenario, step.simulated_dp, step.activation_plan, overlap.get());
  step.graph = builder.run(step.stage_orders, step.micro_batches, step.steps, &step.step_first_op);
  return step;
}

}  // namespace moesim::strategy

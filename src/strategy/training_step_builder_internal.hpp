#pragma once
// Internal to the training step builder (training_step_builder.cpp and the training_step_*.cpp files beside it):
// the Builder that emits one rank graph per pipeline stage task. Split by concern: training_step_builder.cpp (graph
// set-up, task emission, pipeline sends), training_step_layer_ops.cpp (a list's collectives and compute ops),
// training_step_overlap_emission.cpp (overlap-strategy plans), training_step_swap.cpp (activation swaps over the
// host link), training_step_dp_sync.cpp (gradient reduce-scatter, norm, optimizer, parameter all-gather). Not part
// of the strategy layer's interface.
#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/activation_recompute.hpp"
#include "model/column_parallel_backward.hpp"
#include "model/cp_ring.hpp"
#include "model/document_packing.hpp"
#include "model/expert_load.hpp"
#include "model/tp_comm_chunks.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"
#include "strategy/moe_comm.hpp"
#include "strategy/overlap.hpp"
#include "strategy/training_dp_reduction.hpp"
#include "strategy/training_step_builder.hpp"

namespace moesim::strategy::training_step_detail {

using model::BlockOp;
using model::Collective;
using model::CollectiveKind;
using model::Op;
using model::OpId;

// PP streams by direction: 2/3 send to the next stage / receive from the previous one, 4/5 the other way.
constexpr int kCompute = 0, kLayerComm = 1, kSendNext = 2, kRecvPrev = 3, kSendPrev = 4, kRecvNext = 5, kDpComm = 6;
constexpr int kSwapOut = 7, kSwapIn = 8;  // device -> host and host -> device copies of swapped activations
// Async EP work of an overlap strategy: one stream per EP communicator (torch_npu runs each process group's HCCL
// collectives on its own stream): the EP group (or hierarchical EP's inner group) and expert-TP groups on 9, the
// outer (cross-node) group of hierarchical EP on 10; the compute inside an EP stage (token permutation between two
// of its collectives) on the overlap stream 11 (MindSpeed fb-overlap's dispatcher runs its permutation there).
constexpr int kEpComm = 9, kEpOuterComm = 10, kEpStageCompute = 11;
// Expert migration between steps (balanced, mode dynamic): point-to-point transfers on their own stream.
constexpr int kExpertMigration = 12;
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

inline std::string slot_label(const model::LayerSlot& slot) {
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
inline BlockOp host_copy(model::HostCopy kind, std::size_t part, double bytes) {
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
          const OverlapStrategy* overlap, model::ChunkPlacement placement, const model::TpChunking& tp_chunking);

  // `steps` consecutive steps; each step's first forward waits for the previous step's parameter AllGathers.
  model::OpGraph run(const std::vector<std::vector<PipelineTask>>& orders, int micro_batches, int steps,
                     std::vector<std::size_t>* step_first_op);
  std::vector<SteadyPhase> take_steady_phases() { return std::move(steady_); }

 private:
  void run_step(const std::vector<std::vector<PipelineTask>>& orders, int micro_batches);

  struct Lists {
    std::vector<BlockOp> forward, backward;                // backward: Whole (dx then dw, slot by slot)
    std::vector<BlockOp> backward_input, backward_weight;  // B (dx) and W (dw), slot by slot
    model::StageParams params;
  };

  // A task's own dependency state on every rank: its last compute op, the collectives its next op waits for, and
  // its async (EP stream) collectives not joined yet. The active chain lives in the members below.
  // Chunked collectives (BlockOp::chunk_async) issued and not joined yet, with the index of their op in the task's
  // list.
  using ChunkFlying = std::vector<std::pair<long, OpId>>;
  struct Chain {
    std::vector<OpId> last_compute;
    std::vector<std::vector<OpId>> pending, in_flight;
    std::vector<ChunkFlying> chunk_flying;
  };

  void swap_chain(Chain& c) {
    std::swap(last_compute_, c.last_compute);
    std::swap(pending_, c.pending);
    std::swap(in_flight_, c.in_flight);
    std::swap(chunk_flying_, c.chunk_flying);
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
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      auto& deps = pending_[static_cast<std::size_t>(ranks[i])];
      deps.insert(deps.end(), recv[i].begin(), recv[i].end());
    }
    received_.erase(task);
  }

  // Chunked collectives: every one in flight (before an op outside its group), or one chunked compute op's input.
  void join_chunks(const std::vector<int>& ranks) {
    for (int r : ranks) {
      auto& flying = chunk_flying_[static_cast<std::size_t>(r)];
      auto& deps = pending_[static_cast<std::size_t>(r)];
      for (const auto& [index, id] : flying) deps.push_back(id);
      flying.clear();
    }
  }
  void wait_chunk_input(const std::vector<int>& ranks, long index) {
    for (int r : ranks) {
      for (const auto& [i, id] : chunk_flying_[static_cast<std::size_t>(r)]) {
        if (i == index) pending_[static_cast<std::size_t>(r)].push_back(id);
      }
    }
  }
  // Emits one op of a task's list (index `index`) on the task's chain: a layer collective (blocking, async on its EP
  // stream when `async`, or a chunked one), or a compute op (routed experts scaled by the rank's expert load); ops
  // outside a chunked group first wait for the group's collectives.
  void emit_layer_op(int stage, const BlockOp& op, long index, const std::vector<int>& ranks, bool async);

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
  void emit_planned(int stage, const std::vector<Task>& tasks, const std::vector<PipelineTask>& pipeline_tasks);

  static BlockOp named(BlockOp op, const std::string& label) {
    op.name = label + op.name;
    return op;
  }

  // Place of a task's virtual stage along the pipeline (the chunk placement of the schedule).
  int position(const Task& t) const {
    return model::pipeline_position(placement_, p_.pp, t.virtual_stage % p_.pp, t.virtual_stage / p_.pp);
  }

  bool needs_receive(const Task& t) const {
    const int last = p_.pp * p_.vpp - 1;
    if (!t.forward && t.part == BackwardPart::Weight) return false;
    return t.forward ? position(t) > 0 : position(t) < last;
  }

  std::vector<OpId> member_deps(int rank) const {
    std::vector<OpId> deps = pending_[static_cast<std::size_t>(rank)];
    const OpId last = last_compute_[static_cast<std::size_t>(rank)];
    if (last >= 0) deps.push_back(last);
    return deps;
  }

  OpId add_compute(int rank, const std::string& name, const std::string& phase, const model::ComputeCost& cost);
  model::ComputeCost loaded_cost(const BlockOp& op, int rank) const;

  // Compute inside an EP stage, off the task's compute chain: on the overlap stream, after the task's ops in flight
  // (the stage's previous collective), in flight itself until the task joins.
  void add_stage_compute(int rank, const BlockOp& block);

  // One collective with its member ops on per-member streams and per-member deps.
  std::vector<OpId> add_collective(const std::string& name, const std::string& phase, Collective c,
                                   const std::vector<int>& streams, const std::vector<std::vector<OpId>>& deps);

  std::vector<std::vector<int>> groups(int stage, model::GroupKind kind) const;

  // The simulated (DP-reduced) layout must split EP groups over nodes as the plan (full layout) does.
  static std::vector<std::vector<int>> checked(std::vector<std::vector<int>> groups, int size);

  // async: on the EP stream of its communicator, after the task's ops in flight, tracked in flight until a join
  // (overlap plans); else on the layer stream, pending.
  // chunk_async ops (chunked collectives): on the layer stream but off the chain, recorded with `index` until joined.
  void layer_collective(int stage, const BlockOp& op, bool async = false, long index = -1);

  // Swap prefetch triggers: the first compute op of the task being emitted and of the one before it, per rank.
  void begin_task(const std::vector<int>& ranks) {
    for (int r : ranks) {
      prev_task_first_[static_cast<std::size_t>(r)] = task_first_[static_cast<std::size_t>(r)];
      task_first_[static_cast<std::size_t>(r)] = -1;
    }
  }

  void emit_task(int stage, const Task& task);

  // Swapped activations over the host link (one direction per stream, bytes / host-link bandwidth): copied out once
  // the part's forward ends; copied back from the start of the previous part's backward (the first part's from the
  // start of the stage's previous task), and only after they are out; the part's backward waits for them.
  void host_transfer(const Task& task, const BlockOp& op, const std::vector<int>& ranks,
                     std::map<int, std::vector<OpId>>& prefetched);

  bool needs_send(const Task& t) const {
    const int last = p_.pp * p_.vpp - 1;
    if (!t.forward && t.part == BackwardPart::Weight) return false;
    return t.forward ? position(t) < last : position(t) > 0;
  }

  // Activations (forward) or input gradients (backward) to the neighbouring pipeline position, rank by rank; on the
  // same stage (the turn of a V-shaped placement) the next task just waits for this one's last ops.
  void send(int stage, const Task& task);

  void dp_collective(int stage, const std::string& name, CollectiveKind kind, double elements_per_rank,
                     config::Dtype dtype, bool expert, std::vector<OpId>* ids_out);

  // Gradient clipping needs the global gradient norm: one fp32 AllReduce over each pipeline group after the rank's
  // gradient reduce-scatters (the data-parallel part of the norm is already summed by them). The optimizer
  // therefore starts only when every stage has finished its backward, as in Megatron.
  void grad_norm_sync();

  // ZeRO-1: the chunk's fp32 gradients are reduce-scattered as soon as its last backward is done.
  void gradient_sync(int stage, int virtual_stage);

  void optimizer_step(int stage);

  // overlap_param_gather: the first forward of a virtual stage in the next step waits for that stage's parameter
  // AllGathers (held in param_gathers_ until then) on the ranks it runs on; so it does for the expert migrations
  // into its ranks (migrations_).
  void wait_for_parameters(const std::vector<Task>& tasks) {
    for (auto* held : {&param_gathers_, &migrations_}) {
      for (const Task& t : tasks) {
        const auto it = held->find(t.virtual_stage);
        if (!t.forward || it == held->end()) continue;
        for (OpId id : it->second)
          pending_[static_cast<std::size_t>(graph_.ops[static_cast<std::size_t>(id)].rank)].push_back(id);
        held->erase(it);
      }
    }
  }

  // Before step `step` (dynamic balanced placement): every expert that changes EP rank moves its bf16 weights and
  // its optimizer shard (fp32 master, m, v over the expert-DP group) from the old rank to the new one of each EP
  // group, after both ranks' optimizer step and parameter gathers, one transfer per (virtual stage, rank pair).
  void migrate_experts(int step);

  // the load of the micro-batch being emitted (its own with per-micro-batch loads, else its step's)
  const model::ExpertLoad& expert_load() const { return loads_.at(step_, emitting_micro_batch_); }

  const config::ScenarioConfig& scenario_;
  const OverlapStrategy* overlap_;  // nullptr: every collective blocks the next compute op of its task
  model::ChunkPlacement placement_;
  const config::ParallelLayout& p_;
  model::TrainingLayout layout_;
  std::vector<model::VirtualStage> stages_;
  model::TrainingShape shape_;
  std::vector<Lists> lists_;  // per virtual stage
  model::OpGraph graph_;
  std::vector<OpId> last_compute_;
  std::vector<OpId> task_first_, prev_task_first_;  // per rank: first compute op of the current / previous task
  std::vector<std::vector<OpId>> pending_;          // per rank: ops the next op of the compute chain waits for
  std::vector<std::vector<OpId>> in_flight_;        // per rank: async EP collectives of the chain not joined yet
  std::vector<ChunkFlying> chunk_flying_;           // per rank: chunked collectives of the chain not joined yet
  model::ExpertLoadSteps loads_;                    // per step
  int step_ = 0;                                    // the step being emitted
  // per step: attention work per (DP replica, micro-batch) with training.documents, else empty
  std::vector<model::MicroBatchWork> attention_work_;
  int data_step_ = 0;             // the step being emitted (unclamped)
  int emitting_micro_batch_ = 0;  // micro-batch of the op being emitted
  std::vector<int> ep_index_;     // per rank: its position in its EP group (empty when the expert load is uniform)
  std::map<Task, std::vector<std::vector<OpId>>> received_;  // per stage rank: what data not consumed yet waits on
  std::map<int, std::vector<OpId>> grad_syncs_;
  std::map<int, std::vector<OpId>> param_gathers_;  // per virtual stage (overlap_param_gather)
  std::map<int, std::vector<OpId>> migrations_;     // per virtual stage: expert migrations' receiving ops
  std::vector<SteadyPhase> steady_;
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

}  // namespace moesim::strategy::training_step_detail

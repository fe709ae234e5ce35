// Training step builder: the ops of a task's list on the ranks of a stage: layer collectives (their groups, the
// per-pair rows of an AllToAllV under ring shifts or a skewed expert load, the hot-expert broadcast roots, the
// streams of blocking, async and chunked ones) and compute ops (routed experts scaled by the rank's expert load, the
// attention core by its micro-batch's document work).
#include "strategy/training_step_builder_internal.hpp"

namespace moesim::strategy::training_step_detail {

std::vector<std::vector<int>> Builder::groups(int stage, model::GroupKind kind) const {
  auto all = layout_.stage_groups(stage, model::group_of(kind));
  if (kind == model::GroupKind::EpOuter) return checked(std::move(all), shape_.moe_comm.outer);
  if (kind == model::GroupKind::EpInner) return checked(std::move(all), shape_.moe_comm.inner);
  return all;
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
    if (op.hot_broadcast > 0) c.root = expert_load().hot_owner_of(op.layer, op.hot_broadcast - 1);  // in EP order
    if (op.kind == CollectiveKind::AllToAllV && op.ring) {  // ring shift: all of it to the next member
      c.per_pair_elements.assign(n * n, 0.0);
      for (std::size_t i = 0; i < n; ++i) c.per_pair_elements[i * n + (i + 1) % n] = op.elements;
    } else if (op.kind == CollectiveKind::AllToAllV && op.expert_flow != 0 && !ep_index_.empty()) {
      // expert load: the rows for (or from) a rank's experts follow its share of the layer's rows; a group of n of
      // the EP group's ep members (hierarchical: one node) carries ep / n of each sender's rows in total
      c.per_pair_elements.assign(n * n, 0.0);
      const double scale = op.elements * expert_load().ep_size / double(n);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
          if (i == j) continue;
          const int expert_rank = ranks[op.expert_flow > 0 ? j : i];
          c.per_pair_elements[i * n + j] =
              scale * expert_load().receive_share(op.layer, ep_index_[static_cast<std::size_t>(expert_rank)]);
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
// Attention core under document masking (training.documents): its FLOPs follow the micro-batch's attention work;
// under CP the work of the rank's query shard (against every shard's keys, or a Ring Attention block's one shard).
model::ComputeCost Builder::loaded_cost(const BlockOp& op, int rank) const {
  if (!attention_work_.empty() && op.cost.op_class == config::OpClass::Attention) {
    model::ComputeCost cost = op.cost;
    const auto& work = attention_work_[std::min(static_cast<std::size_t>(data_step_), attention_work_.size() - 1)];
    const auto c = layout_.coord(rank);
    const int shards = work.cp_shards;
    const int p = c.cp / std::max(1, layout_.cp() / shards);  // hybrid CP: a Ulysses group shares its ring shard
    // a Ring Attention block k works on the K/V shard that came k places round the ring (k < shards)
    cost.flops *= op.cp_block < 0 ? work.shard_queries(c.dp, emitting_micro_batch_, p)
                                  : work.shard_pair(c.dp, emitting_micro_batch_, p, (p - op.cp_block + shards) % shards);
    return cost;
  }
  if (ep_index_.empty() || op.layer < 0 || op.cost.op_class != config::OpClass::GroupedMatmul) return op.cost;
  const double f = expert_load().factor(op.layer, ep_index_[static_cast<std::size_t>(rank)]);
  model::ComputeCost cost = op.cost;
  cost.flops *= f;
  cost.bytes = op.weight_bytes + (op.cost.bytes - op.weight_bytes) * f;
  return cost;
}


}  // namespace moesim::strategy::training_step_detail

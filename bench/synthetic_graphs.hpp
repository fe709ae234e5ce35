#pragma once
// Synthetic op graphs for the engine benchmark (bench/engine_bench.cpp). They exercise the engine's costs at the
// shapes of real workloads; their sizes are round numbers, not a model of Pangu (that is src/model's job).
#include <algorithm>
#include <vector>

#include "model/op_graph.hpp"

namespace moesim::bench {

using model::CollectiveAlgorithm;
using model::CollectiveKind;
using model::OpGraph;
using model::OpId;

struct Builder {
  OpGraph graph;
  std::vector<OpId> last_compute;  // per rank, stream 0
  std::vector<OpId> last_comm;     // per rank, stream 1

  explicit Builder(int ranks)
      : last_compute(static_cast<std::size_t>(ranks), -1), last_comm(static_cast<std::size_t>(ranks), -1) {
    graph.num_ranks = ranks;
  }

  // `count` compute ops on every rank's stream 0; the first waits for the rank's last comm op.
  void compute(int count, config::OpClass op_class, double flops, double bytes, const char* name) {
    for (int r = 0; r < graph.num_ranks; ++r) {
      for (int k = 0; k < count; ++k) {
        model::Op op;
        op.name = name;
        op.phase = "compute";
        op.rank = r;
        op.compute = {op_class, config::Dtype::BF16, flops * (1.0 + 0.1 * (k % 3)), bytes};
        const OpId comm = last_comm[static_cast<std::size_t>(r)];
        if (k == 0 && comm >= 0) op.deps = {comm};
        last_compute[static_cast<std::size_t>(r)] = graph.add(std::move(op));
      }
    }
  }

  // One collective per group on `stream`; each member waits for its last compute op. Stream 1 ops become the
  // rank's last comm (the next compute waits for them); other streams overlap freely.
  std::vector<OpId> collective(const std::vector<std::vector<int>>& groups, CollectiveKind kind, double elements,
                               const char* name, int stream = 1,
                               CollectiveAlgorithm algorithm = CollectiveAlgorithm::Auto) {
    std::vector<OpId> all;
    for (const auto& ranks : groups) {
      model::Collective c;
      c.kind = kind;
      c.algorithm = algorithm;
      c.ranks = ranks;
      c.elements = elements;
      if (kind == CollectiveKind::AllToAllV) {
        const std::size_t p = ranks.size();
        c.per_pair_elements.assign(p * p, 0.0);
        for (std::size_t i = 0; i < p; ++i) {
          for (std::size_t j = 0; j < p; ++j) {
            if (i != j) c.per_pair_elements[i * p + j] = elements / p * (0.6 + 0.1 * ((i * 31 + j * 17) % 9));
          }
        }
      }
      std::vector<std::vector<OpId>> deps;
      for (int r : ranks) {
        const OpId d = last_compute[static_cast<std::size_t>(r)];
        deps.push_back(d >= 0 ? std::vector<OpId>{d} : std::vector<OpId>{});
      }
      const auto ids = graph.add_collective_ops(name, name, std::move(c), stream, deps);
      for (std::size_t i = 0; i < ranks.size(); ++i) {
        if (stream == 1) last_comm[static_cast<std::size_t>(ranks[i])] = ids[i];
      }
      all.insert(all.end(), ids.begin(), ids.end());
    }
    return all;
  }
};

inline std::vector<std::vector<int>> blocks(int ranks, int size) {
  std::vector<std::vector<int>> groups;
  for (int start = 0; start + size <= ranks; start += size) {
    groups.emplace_back();
    for (int r = start; r < start + size; ++r) groups.back().push_back(r);
  }
  return groups;
}

inline std::vector<std::vector<int>> strided(int ranks, int stride) {
  std::vector<std::vector<int>> groups(static_cast<std::size_t>(std::min(ranks, stride)));
  for (int r = 0; r < ranks; ++r) groups[static_cast<std::size_t>(r % stride)].push_back(r);
  return groups;
}

// 8-rank node: `layers` x (attention compute, TP all-reduce, MoE compute, TP all-reduce).
inline OpGraph node_graph(int layers, int ops_per_block) {
  Builder b(8);
  const auto tp = blocks(8, 8);
  for (int l = 0; l < layers; ++l) {
    b.compute(ops_per_block, config::OpClass::Attention, 2e11, 5e7, "attn");
    b.collective(tp, CollectiveKind::AllReduce, 16e6, "tp_ar");
    b.compute(ops_per_block, config::OpClass::GroupedMatmul, 2e11, 1e8, "moe");
    b.collective(tp, CollectiveKind::AllReduce, 16e6, "tp_ar");
  }
  return std::move(b.graph);
}

// `ranks` ranks, `repeats` skewed all-to-all-v over all of them, separated by one compute op.
inline OpGraph alltoallv_graph(int ranks, int repeats) {
  Builder b(ranks);
  for (int i = 0; i < repeats; ++i) {
    b.compute(1, config::OpClass::GroupedMatmul, 1e11, 1e8, "gmm");
    b.collective({blocks(ranks, ranks)}, CollectiveKind::AllToAllV, 16e6, "ep_a2a");
  }
  return std::move(b.graph);
}

// Training-like step on ranks = nodes x 8: TP 8 in node, EP 32 consecutive ranks, DP over ranks 128 apart (the
// Ultra MoE layout TP8 x PP16 gives DP = ranks / 128; here without the pipeline). Per layer, forward: attention
// ops, TP all-reduce, EP dispatch, MoE ops, EP combine; backward the same with twice the ops, then a DP
// reduce-scatter of the layer's gradients on stream 2 (overlapping the next layer's backward); finally a DP
// all-gather per layer. Compute ops per rank = 3 x layers x 2 x ops_per_block.
struct TrainingShape {
  bool skewed = false;  // EP exchanges as all-to-all-v with uneven pairs (each flow ends at its own time)
  bool tp = true, ep = true, dp = true;  // which collective families to include (cost breakdowns)
  CollectiveAlgorithm ep_algorithm = CollectiveAlgorithm::Auto;  // Auto = direct; Hierarchical = 2-phase
};
inline OpGraph training_graph(int ranks, int layers, int ops_per_block, const TrainingShape& shape) {
  Builder b(ranks);
  const auto tp = blocks(ranks, 8);
  const auto ep = blocks(ranks, std::min(ranks, 32));
  const auto dp = strided(ranks, std::min(ranks, 128));
  const bool with_dp = shape.dp && dp.front().size() > 1;
  const CollectiveKind a2a = shape.skewed ? CollectiveKind::AllToAllV : CollectiveKind::AllToAll;
  auto layer = [&](int scale) {
    b.compute(scale * ops_per_block, config::OpClass::Attention, 4e11, 6e7, "attn");
    if (shape.tp) b.collective(tp, CollectiveKind::AllReduce, 32e6, "tp_ar");
    if (shape.ep) b.collective(ep, a2a, 24e6, "ep_dispatch", 1, shape.ep_algorithm);
    b.compute(scale * ops_per_block, config::OpClass::GroupedMatmul, 4e11, 1.5e8, "moe");
    if (shape.ep) b.collective(ep, a2a, 24e6, "ep_combine", 1, shape.ep_algorithm);
  };
  for (int l = 0; l < layers; ++l) layer(1);
  for (int l = 0; l < layers; ++l) {
    layer(2);
    if (with_dp) b.collective(dp, CollectiveKind::ReduceScatter, 100e6, "dp_rs", 2);
  }
  if (with_dp) {
    for (int l = 0; l < layers; ++l) b.collective(dp, CollectiveKind::AllGather, 100e6, "dp_ag", 2);
  }
  return std::move(b.graph);
}

}  // namespace moesim::bench

#pragma once
// A tiny MoE model and static inference scenarios built in code, for the inference step tests (model, strategy
// and metrics layers). Numbers are chosen so that costs can be computed by hand.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/scenario_config.hpp"
#include "model/op_graph.hpp"

namespace moesim::test {

// The op called `name` on `rank` (the test fails if there is none).
inline const model::Op& find_op(const model::OpGraph& g, const std::string& name, int rank) {
  for (const auto& op : g.ops) {
    if (op.name == name && op.rank == rank) return op;
  }
  FAIL("no op " << name << " on rank " << rank);
  return g.ops.front();
}

// The distinct collectives whose ops' names start with `prefix`, in op order; `names` (optional) receives the name
// of the first op of each.
inline std::vector<const model::Collective*> collectives_named(const model::OpGraph& g, const std::string& prefix,
                                                               std::vector<std::string>* names = nullptr) {
  std::vector<const model::Collective*> out;
  std::vector<int> seen;
  for (const auto& op : g.ops) {
    if (op.kind != model::OpKind::Collective || op.name.rfind(prefix, 0) != 0) continue;
    if (std::find(seen.begin(), seen.end(), op.collective) != seen.end()) continue;
    seen.push_back(op.collective);
    out.push_back(&g.collectives[static_cast<std::size_t>(op.collective)]);
    if (names) names->push_back(op.name);
  }
  return out;
}

// 2 MoE layers, hidden 256, GQA 8 heads / 4 KV heads of 32, 8 experts top-2 (width 64), 1 shared expert (64).
inline config::ModelConfig tiny_inference_moe() {
  config::ModelConfig m;
  m.file = "<tiny-inference-moe>";
  m.name = "tiny-inference-moe";
  m.hidden = 256;
  m.num_layers = 2;
  m.vocab = 512;
  m.attention.kind = config::AttentionKind::GQA;
  m.attention.num_heads = 8;
  m.attention.num_kv_heads = 4;
  m.attention.head_dim = 32;
  config::MoeSpec moe;
  moe.num_routed_experts = 8;
  moe.num_shared_experts = 1;
  moe.top_k = 2;
  moe.expert_intermediate = 64;
  moe.shared_expert_intermediate = 64;
  m.moe = moe;
  m.max_seq_len = 4096;
  return m;
}

inline config::SourcedValue fixture_value(double value) {
  return {value, "test fixture", true};
}

// A decode (or prefill) step of `batch` sequences at KV length 128, W8A8, tp x dp ranks, experts over all ranks
// of an attention group (ep = tp / expert_tp) unless `h2p_experts` spreads them over tp x dp ranks.
inline config::ScenarioConfig tiny_inference_scenario(int tp, int dp, int batch, bool decode = true) {
  config::ScenarioConfig s;
  s.file = "<tiny-inference>";
  s.name = "tiny";
  s.type = config::ScenarioType::Inference;
  s.model = tiny_inference_moe();
  s.parallel.tp = tp;
  s.parallel.dp = dp;
  s.parallel.ep = tp * dp;
  s.ranks = tp * dp;
  config::InferenceWorkload w;
  w.phase = decode ? config::InferencePhase::Decode : config::InferencePhase::Prefill;
  w.batch_size = batch;
  w.input_len = 128;
  w.output_len = 1;
  w.weight_dtype = config::Dtype::INT8;
  w.activation_dtype = config::Dtype::INT8;
  w.kv_dtype = config::Dtype::FP16;
  s.inference = w;
  s.topology.file = "<tiny-topology>";
  s.topology.devices_per_node = tp * dp;
  s.topology.nodes = 1;
  return s;
}

// Ops of `graph` whose name ends with `suffix` (after the last '.'), optionally on one rank.
inline std::vector<const model::Op*> ops_named(const model::OpGraph& graph, const std::string& suffix, int rank = -1) {
  std::vector<const model::Op*> out;
  for (const auto& op : graph.ops) {
    if (rank >= 0 && op.rank != rank) continue;
    const auto dot = op.name.rfind('.');
    const std::string last = dot == std::string::npos ? op.name.str() : op.name.substr(dot + 1);
    if (last == suffix || op.name == suffix) out.push_back(&op);
  }
  return out;
}

}  // namespace moesim::test

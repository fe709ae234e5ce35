// The inference step's MoE block (StepEmitter members): the exchange around the experts (H2P's global AllGather /
// ReduceScatter, DuoStream's chunks of them, or the EP all-to-all, skewed by the expert load) and each rank's
// router, routed-expert and shared-expert ops.
#include <algorithm>

#include "model/inference_step_emitter.hpp"
#include "model/model_stats.hpp"

namespace moesim::model::detail {

void StepEmitter::emit_expert_block(const Pass& pass, const std::string& L, int layer) {
  const auto& s = pass.shape;
  const double elements = s.moe_tokens * model_.hidden;
  if (!s.scatter_gather) {
    for (int r = 0; r < s.ranks; ++r) emit_expert_ops(r, pass, L, 1.0, true, layer);
    tp_collective(pass, L + "moe_allreduce", CollectiveKind::AllReduce, elements, d_.comm);
    return;
  }
  if (plan_.moe_alltoall) {  // each rank's shard x top_k token-expert rows out to the experts' ranks, and back
    const double rows = s.shard * model_.moe->top_k * model_.hidden;
    // skewed: sender i sends rank j's experts their share of its rows (expert_tp 1: EP index = rank)
    const bool skewed = !load_.uniform();
    const auto kind = skewed ? CollectiveKind::AllToAllV : CollectiveKind::AllToAll;
    std::vector<double> to, back;
    if (skewed) {
      const auto n = static_cast<std::size_t>(s.ranks);
      to.assign(n * n, 0.0);
      back.assign(n * n, 0.0);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
          if (i == j) continue;
          to[i * n + j] = rows * load_.receive_share(layer, static_cast<int>(j));
          back[j * n + i] = to[i * n + j];
        }
      }
    }
    global_collective(pass, L + "moe_dispatch", kind, rows, allgather_dtype(), false, true, to);
    for (int r = 0; r < s.ranks; ++r) emit_expert_ops(r, pass, L, 1.0, true, layer);
    global_collective(pass, L + "moe_combine", kind, rows, d_.comm, false, true, back);
    return;
  }
  const int chunks = std::max(1, plan_.duo_stream_chunks);
  if (chunks == 1) {
    global_collective(pass, L + "moe_allgather", CollectiveKind::AllGather, elements, allgather_dtype());
    for (int r = 0; r < s.ranks; ++r) emit_expert_ops(r, pass, L, 1.0, true, layer);
    global_collective(pass, L + "moe_reducescatter", CollectiveKind::ReduceScatter, elements, d_.comm);
    return;
  }
  // DuoStream: every chunk's AllGather is issued up front on the communication stream; chunk k's expert ops wait
  // for its AllGather only, and its ReduceScatter starts when they end, overlapping chunk k+1's compute. The host
  // launches each fused kernel (AGMM, GMM, GMMRS) once: chunks after the first are not dispatched again.
  const double fraction = 1.0 / chunks;
  std::vector<std::vector<OpId>> gathers;
  for (int k = 0; k < chunks; ++k) {
    gathers.push_back(global_collective(pass, L + "moe_allgather.c" + std::to_string(k), CollectiveKind::AllGather,
                                        elements * fraction, allgather_dtype(), true, k == 0));
  }
  std::vector<std::vector<OpId>> scatters;
  for (int k = 0; k < chunks; ++k) {
    const std::string chunk = L + "c" + std::to_string(k) + ".";
    for (int r = 0; r < s.ranks; ++r) {
      const OpId gathered = gathers[static_cast<std::size_t>(k)][static_cast<std::size_t>(r)];
      if (gathered >= 0) b_.wait_for(r, gathered);
      emit_expert_ops(r, pass, chunk, fraction, k == 0, layer);
    }
    scatters.push_back(global_collective(pass, L + "moe_reducescatter.c" + std::to_string(k),
                                         CollectiveKind::ReduceScatter, elements * fraction, d_.comm, true, k == 0));
  }
  for (const auto& scatter : scatters) {
    for (int r = 0; r < s.ranks; ++r) {
      if (scatter[static_cast<std::size_t>(r)] >= 0) b_.wait_for(r, scatter[static_cast<std::size_t>(r)]);
    }
  }
}

void StepEmitter::emit_expert_ops(int r, const Pass& pass, const std::string& L, double fraction, bool dispatched,
                                  int layer) {
  const auto& s = pass.shape;
  const auto& m = *model_.moe;
  const std::string phase = phase_of(pass, "moe");
  // A DuoStream chunk after the first is an iteration of the fused kernel launched for the first: neither the host
  // nor the device launches it again.
  auto op = [&](const std::string& name, ComputeCost cost) {
    cost.launched = dispatched;
    b_.compute(r, L + name, phase, cost, dispatched);
  };
  const double tokens = s.moe_tokens * fraction;
  // the tokens this rank routes: all it sees, or with the EP all-to-all only its own shard
  const double own = plan_.moe_alltoall ? s.shard * fraction : tokens;
  const double h = model_.hidden;
  const auto router = router_matmul(model_);
  op("router", matmul_cost(d_, own, router.params(), router.in_features, router.out_features));
  op("moe_gating", vector_cost(d_, own, m.num_routed_experts));
  // the rank's expert slots: its share of the experts plus any redundant copies (their weights read as well)
  const double local_experts = double(m.num_routed_experts) / p_.ep + plan_.redundant_experts_per_rank;
  // a skewed load: the rank's experts get `factor` x the balanced rows (each a correspondingly likelier pick)
  const double factor = load_.factor(layer, r / std::max(1, p_.expert_tp));
  const double p_expert = std::min(1.0, factor * m.top_k / m.num_routed_experts);
  const double rows = factor * tokens * m.top_k / p_.ep;  // expected token->expert pairs on this rank
  const bool reread = plan_.duo_stream_reread_weights;
  const double weight_share = reread ? 1.0 : fraction;
  const double touched =
      expected_touched_experts(local_experts, s.real_moe_tokens * (reread ? fraction : 1.0), p_expert);
  const double inter = double(m.expert_intermediate) / p_.expert_tp;
  const double up = up_width(model_, inter);
  op("moe_permute", {OpClass::Vector, Dtype::FP16, rows * h, (own + rows) * h * d_.act_bytes});
  const double up_weights = touched * h * up * d_.weight_bytes;
  op("routed_gate_up", {plan_.grouped_matmul_class, d_.gemm, 2.0 * rows * h * up,
                        up_weights * weight_share + rows * (h + up) * d_.act_bytes});
  op("routed_act", activation_cost(model_, d_, rows, inter));
  const double down_weights = touched * inter * h * d_.weight_bytes;
  op("routed_down", {plan_.grouped_matmul_class, d_.gemm, 2.0 * rows * inter * h,
                     down_weights * weight_share + rows * (inter + h) * d_.act_bytes});
  op("moe_unpermute", {OpClass::Vector, Dtype::FP16, 2.0 * rows * h, (rows + own) * h * d_.act_bytes});
  if (m.num_shared_experts == 0) return;
  // TP: each rank holds 1/tp of the shared experts for every token. H2P: shared-expert TP groups of
  // `shared` ranks each serve 1/(ranks/shared) of the gathered tokens.
  const bool h2p = plan_.comm == InferenceComm::H2P;
  const int shared = plan_.moe_alltoall ? 1
                     : !h2p              ? s.tp
                                         : (plan_.shared_expert_tp == 0 ? s.ranks : plan_.shared_expert_tp);
  const double shared_tokens = plan_.moe_alltoall ? own : h2p ? tokens * shared / s.ranks : tokens;
  const double shared_inter = double(m.num_shared_experts) * m.shared_expert_intermediate / shared;
  const double shared_up = up_width(model_, shared_inter);
  op("shared_gate_up", with_weight_fraction(matmul_cost(d_, shared_tokens, h * shared_up, h, shared_up),
                                            h * shared_up * d_.weight_bytes, weight_share));
  op("shared_act", activation_cost(model_, d_, shared_tokens, shared_inter));
  op("shared_down", with_weight_fraction(matmul_cost(d_, shared_tokens, shared_inter * h, shared_inter, h),
                                         shared_inter * h * d_.weight_bytes, weight_share));
}

}  // namespace moesim::model::detail

// Context-parallel attention per algorithm: the KV AllGather (default), Ring Attention's steps (model/cp_ring) and
// Ulysses' two AllToAlls; the same attention FLOPs in each, and the communication volumes of the papers.
#include <catch2/catch.hpp>
#include <string>

#include "model/cp_ring.hpp"
#include "model/model_stats.hpp"
#include "model/training_blocks.hpp"
#include "training_fixtures.hpp"

using namespace moesim;
using model::BlockOp;
using model::CpAlgorithm;

namespace {

// Tiny dense GQA model (16 heads, 8 KV heads of 128), TP 2, CP 4, 1024-token sequences: 256 tokens per CP shard.
model::TrainingShape shape(CpAlgorithm algorithm) {
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(2, 1, 1, 1, 4), 1024, 1, 1);
  auto out = model::training_shape(s);
  out.cp_algorithm = algorithm;
  return out;
}

std::vector<BlockOp> forward(CpAlgorithm algorithm) {
  return model::layer_forward(test::tiny_dense_model(), shape(algorithm), false);
}

std::vector<const BlockOp*> cp_ops(const std::vector<BlockOp>& ops) {
  std::vector<const BlockOp*> out;
  for (const auto& op : ops) {
    if (op.collective && op.group == model::GroupKind::Cp) out.push_back(&op);
  }
  return out;
}

double attention_flops(const std::vector<BlockOp>& ops) {
  double f = 0.0;
  for (const auto& op : ops) f += !op.collective && op.cost.op_class == config::OpClass::Attention ? op.cost.flops : 0;
  return f;
}

long index_of(const std::vector<BlockOp>& ops, const std::string& name) {
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].name == name) return static_cast<long>(i);
  }
  return -1;
}

constexpr double kT = 256.0;                    // tokens per CP shard
constexpr double kKvWidth = 2.0 * 4.0 * 128.0;  // K and V of the 8 / tp = 4 local KV heads

}  // namespace

TEST_CASE("kv_allgather: one AllGather of the whole sequence's K and V before the core") {
  const auto ops = cp_ops(forward(CpAlgorithm::KvAllGather));
  REQUIRE(ops.size() == 1);
  CHECK(ops[0]->name == "cp_kv_ag");
  CHECK(ops[0]->kind == model::CollectiveKind::AllGather);
  CHECK(ops[0]->elements == Approx(kT * 4 * kKvWidth));
}

TEST_CASE("ulysses: AllToAll of Q, K, V to head shards before the core, AllToAll of the output after it") {
  const auto list = forward(CpAlgorithm::Ulysses);
  const auto ops = cp_ops(list);
  REQUIRE(ops.size() == 2);
  CHECK(ops[0]->name == "cp_a2a_qkv");
  CHECK(ops[1]->name == "cp_a2a_o");
  CHECK(index_of(list, "cp_a2a_qkv") + 1 == index_of(list, "attn_core"));
  CHECK(index_of(list, "attn_core") + 1 == index_of(list, "cp_a2a_o"));
  // 8 local query heads, 4 local KV heads repeated to cp = 4 (already 4): (8 + 2 x 4) x 128 per token
  CHECK(ops[0]->elements == Approx(kT * (8 + 2 * 4) * 128.0));
  CHECK(ops[1]->elements == Approx(kT * 8 * 128.0));
  CHECK(ops[0]->kind == model::CollectiveKind::AllToAll);
  // fewer KV heads than cp: one per rank, repeated
  CHECK(model::ulysses_qkv_width(test::tiny_dense_model(), 8, 4) == Approx((2 + 2 * 4) * 128.0));
  CHECK(attention_flops(list) == Approx(attention_flops(forward(CpAlgorithm::KvAllGather))));
  // the backward mirrors both AllToAlls
  const auto dx = model::backward_ops(list, model::Pass::BackwardInput);
  CHECK(cp_ops(dx).size() == 2);
  CHECK(cp_ops(dx)[0]->name == "cp_a2a_o_b");
}

TEST_CASE("ring_attention: cp blocks and cp - 1 shifts of one K/V shard, block k waiting for shift k") {
  const auto marked = forward(CpAlgorithm::Ring);
  REQUIRE(cp_ops(marked).size() == 1);
  CHECK(cp_ops(marked)[0]->ring);
  const auto ring = model::expand_cp_ring(marked, 4);
  const auto shifts = cp_ops(ring);
  REQUIRE(shifts.size() == 3);
  for (const auto* s : shifts) {
    CHECK(s->chunk_async);
    CHECK(s->ring);
    CHECK(s->elements == Approx(kT * kKvWidth));
  }
  // (cp - 1) shifts of a shard move what the AllGather delivers to each rank: (cp - 1) / cp of its output
  CHECK(3 * shifts[0]->elements == Approx(3.0 / 4.0 * cp_ops(forward(CpAlgorithm::KvAllGather))[0]->elements));
  CHECK(index_of(ring, "attn_core#b0") >= 0);
  CHECK(ring[static_cast<std::size_t>(index_of(ring, "attn_core#b0"))].chunk_input_back == 0);
  for (int k = 1; k < 4; ++k) {
    const long b = index_of(ring, "attn_core#b" + std::to_string(k));
    CHECK(b - ring[static_cast<std::size_t>(b)].chunk_input_back == index_of(ring, "cp_ring#s" + std::to_string(k)));
  }
  CHECK(attention_flops(ring) == Approx(attention_flops(marked)));
  // backward: K/V and partial dK/dV travel together (twice the elements), then one shift brings dK/dV home
  const auto dx = model::expand_cp_ring(model::backward_ops(marked, model::Pass::BackwardInput), 4);
  const auto back = cp_ops(dx);
  REQUIRE(back.size() == 4);
  CHECK(back[0]->elements == Approx(2 * kT * kKvWidth));
  CHECK(back[3]->name == "cp_ring_b#s4");
  CHECK(back[3]->elements == Approx(kT * kKvWidth));
  CHECK(index_of(dx, "cp_ring_b#s4") == index_of(dx, "attn_core_b#b3") + 1);
  CHECK(model::expand_cp_ring(marked, 1).size() == marked.size());
}

TEST_CASE("hybrid_cp: Ulysses AllToAlls inside groups of u, a ring of cp / u groups carrying u shards' K/V") {
  auto s = shape(CpAlgorithm::Hybrid);
  s.cp_ulysses = 2;  // CP 4 = Ulysses 2 x ring 2
  CHECK(s.cp_ring_degree() == 2);
  CHECK(shape(CpAlgorithm::Ring).cp_ring_degree() == 4);
  CHECK(shape(CpAlgorithm::Ulysses).cp_ring_degree() == 1);
  const auto marked = model::layer_forward(test::tiny_dense_model(), s, false);
  std::vector<const BlockOp*> ulysses, ring;
  for (const auto& op : marked) {
    if (op.collective && op.group == model::GroupKind::CpUlysses) ulysses.push_back(&op);
    if (op.collective && op.group == model::GroupKind::CpRing) ring.push_back(&op);
  }
  REQUIRE(ulysses.size() == 2);
  REQUIRE(ring.size() == 1);
  CHECK(cp_ops(marked).empty());  // nothing over the whole CP group
  // Q/K/V over 2 ranks: 8 local query heads, 4 local KV heads (>= u): (8 + 2 x 4) x 128 per token
  CHECK(ulysses[0]->elements == Approx(kT * (8 + 2 * 4) * 128.0));
  CHECK(ulysses[1]->elements == Approx(kT * 8 * 128.0));
  // a ring step: the Ulysses group's 2 x 256 tokens, 2 of the 4 local KV heads: the same elements as one shard
  CHECK(ring[0]->ring);
  CHECK(ring[0]->elements == Approx(kT * kKvWidth));
  CHECK(index_of(marked, "cp_a2a_qkv") < index_of(marked, "cp_ring"));
  CHECK(index_of(marked, "cp_ring") + 1 == index_of(marked, "attn_core"));
  const auto expanded = model::expand_cp_ring(marked, s.cp_ring_degree());
  CHECK(index_of(expanded, "attn_core#b1") >= 0);
  CHECK(index_of(expanded, "attn_core#b2") < 0);  // two blocks: the ring has 2 members
  CHECK(attention_flops(expanded) == Approx(attention_flops(forward(CpAlgorithm::KvAllGather))));
  // GQA with fewer local KV heads than u: repeated up to u per ring step (1 KV head per TP rank at tp 8, u 4)
  auto few = model::training_shape(test::training_scenario(test::tiny_dense_model(), test::layout(8, 1, 1, 1, 8),
                                                           1024, 1, 1));
  few.cp_algorithm = CpAlgorithm::Hybrid;
  few.cp_ulysses = 4;
  for (const auto& op : model::layer_forward(test::tiny_dense_model(), few, false)) {
    if (op.collective && op.group == model::GroupKind::CpRing) CHECK(op.elements == Approx(128.0 * 2 * 4 * 128.0));
  }
}

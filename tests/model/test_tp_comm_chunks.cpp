// TP communication chunking (CoC / MC2): which collective + matmul groups are cut, how costs split over the chunks,
// which AllGather chunk each matmul chunk waits for, and what is left alone.
#include <catch2/catch.hpp>
#include <string>

#include "model/tp_comm_chunks.hpp"
#include "model/training_blocks.hpp"
#include "block_op_names.hpp"
#include "training_fixtures.hpp"

using namespace moesim;
using test::names;
using model::BlockOp;

namespace {

const BlockOp& find(const std::vector<BlockOp>& ops, const std::string& name) {
  for (const auto& op : ops) {
    if (op.name == name) return op;
  }
  FAIL("no op " << name);
  return ops.front();
}

long index_of(const std::vector<BlockOp>& ops, const std::string& name) {
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].name == name) return static_cast<long>(i);
  }
  return -1;
}

// Index of the op a chunk waits for (-1: none).
long input_of(const std::vector<BlockOp>& ops, const std::string& name) {
  const long i = index_of(ops, name);
  const long back = ops[static_cast<std::size_t>(i)].chunk_input_back;
  return back > 0 ? i - back : -1;
}

model::TrainingShape dense_shape(bool sp) {
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(4, 1, 1, 1, 1, 1, false, sp), 1024, 2,
                                         2);
  return model::training_shape(s);
}

}  // namespace

TEST_CASE("a dense layer with SP: AllGather + matmul and matmul + ReduceScatter are cut into token chunks") {
  const auto shape = dense_shape(true);
  const auto forward = model::layer_forward(test::tiny_dense_model(), shape, false);
  REQUIRE(names(forward) == std::vector<std::string>{"attn_norm", "attn_ag", "attn_in", "attn_core", "o_proj",
                                                     "attn_rs", "ffn_norm", "ffn_ag", "ffn_fc1", "ffn_fc2", "ffn_rs"});
  const auto chunked = model::chunk_tp_collectives(forward, {2, true, true});
  CHECK(names(chunked) ==
        std::vector<std::string>{"attn_norm", "attn_ag#c0", "attn_ag#c1", "attn_in#c0", "attn_in#c1", "attn_core",
                                 "o_proj#c0", "attn_rs#c0", "o_proj#c1", "attn_rs#c1", "ffn_norm", "ffn_ag#c0",
                                 "ffn_ag#c1", "ffn_fc1#c0", "ffn_fc1#c1", "ffn_fc2#c0", "ffn_rs#c0", "ffn_fc2#c1",
                                 "ffn_rs#c1"});
  // matmul chunk k waits for AllGather chunk k; ReduceScatter-side chunks wait for nothing extra
  CHECK(input_of(chunked, "attn_in#c0") == index_of(chunked, "attn_ag#c0"));
  CHECK(input_of(chunked, "attn_in#c1") == index_of(chunked, "attn_ag#c1"));
  CHECK(input_of(chunked, "ffn_fc1#c1") == index_of(chunked, "ffn_ag#c1"));
  CHECK(input_of(chunked, "ffn_fc2#c1") == -1);
  CHECK(input_of(chunked, "o_proj#c1") == -1);
  // collectives: async, half the elements; matmuls: half the FLOPs, the weights read by each chunk
  for (const auto* name : {"attn_ag", "attn_rs", "ffn_ag", "ffn_rs"}) {
    const auto& c = find(chunked, std::string(name) + "#c1");
    CHECK(c.chunk_async);
    CHECK(c.chunked);
    CHECK(c.elements == Approx(find(forward, name).elements / 2));
  }
  for (const auto* name : {"attn_in", "o_proj", "ffn_fc1", "ffn_fc2"}) {
    const auto& whole = find(forward, name);
    REQUIRE(whole.weight_bytes > 0.0);
    for (const auto* k : {"#c0", "#c1"}) {
      const auto& c = find(chunked, std::string(name) + k);
      CHECK(c.chunked);
      CHECK_FALSE(c.chunk_async);
      CHECK(c.cost.flops == Approx(whole.cost.flops / 2));
      CHECK(c.cost.bytes == Approx(whole.weight_bytes + (whole.cost.bytes - whole.weight_bytes) / 2));
    }
    // fused kernel: one launch for the op
    CHECK(find(chunked, std::string(name) + "#c0").cost.launched);
    CHECK_FALSE(find(chunked, std::string(name) + "#c1").cost.launched);
  }
  CHECK_FALSE(find(chunked, "attn_core").chunked);
  // the script version launches every chunk
  const auto script = model::chunk_tp_collectives(forward, {4, false, true});
  CHECK(find(script, "ffn_fc2#c3").cost.launched);
  CHECK(script.size() == forward.size() + 3 * 8);
}

TEST_CASE("the input-gradient list is chunked the same way: AllGather + dx matmul, dx matmul + ReduceScatter") {
  const auto shape = dense_shape(true);
  const auto dx = model::backward_ops(model::layer_forward(test::tiny_dense_model(), shape, false),
                                      model::Pass::BackwardInput);
  const auto chunked = model::chunk_tp_collectives(dx, {2, true, true});
  // reversed list: ffn_rs_b (AllGather) -> ffn_fc2_b, then ffn_fc1_b -> ffn_ag_b (ReduceScatter)
  CHECK(names(chunked)[0] == "ffn_rs_b#c0");
  CHECK(find(chunked, "ffn_rs_b#c1").kind == model::CollectiveKind::AllGather);
  CHECK(find(chunked, "ffn_ag_b#c1").kind == model::CollectiveKind::ReduceScatter);
  CHECK(input_of(chunked, "ffn_fc2_b#c1") == index_of(chunked, "ffn_rs_b#c1"));
  CHECK(input_of(chunked, "ffn_fc1_b#c1") == -1);
  CHECK(input_of(chunked, "attn_in_b#c0") == -1);  // dx matmul + ReduceScatter
  CHECK(input_of(chunked, "o_proj_b#c1") == index_of(chunked, "attn_rs_b#c1"));
  // the weight-gradient list has no collectives: unchanged
  const auto dw = model::backward_ops(model::layer_forward(test::tiny_dense_model(), shape, false),
                                      model::Pass::BackwardWeight);
  CHECK(names(model::chunk_tp_collectives(dw, {2, true, true})) == names(dw));
}

TEST_CASE("without SP the matmul + AllReduce is chunked, and one chunk or no TP leaves the list unchanged") {
  const auto forward = model::layer_forward(test::tiny_dense_model(), dense_shape(false), false);
  const auto chunked = model::chunk_tp_collectives(forward, {2, true, true});
  CHECK(find(chunked, "attn_ar#c0").kind == model::CollectiveKind::AllReduce);
  CHECK(find(chunked, "ffn_ar#c1").chunk_async);
  CHECK(index_of(chunked, "attn_in#c0") == -1);  // no AllGather in front of it without SP
  CHECK(names(model::chunk_tp_collectives(forward, {1, true, true})) == names(forward));
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 1, 1), 1024, 1, 1);
  const auto no_tp = model::layer_forward(test::tiny_dense_model(), model::training_shape(s), false);
  CHECK(names(model::chunk_tp_collectives(no_tp, {4, true, true})) == names(no_tp));
}

TEST_CASE("MoE layer: the shared experts' collectives are chunked unless shared_experts is off, EP ops never") {
  const auto s = test::training_scenario(test::tiny_moe_model(), test::layout(2, 1, 2, 1, 1, 2, true, true), 1024, 1,
                                         2);
  const auto forward = model::layer_forward(test::tiny_moe_model(), model::training_shape(s), true);
  const auto chunked = model::chunk_tp_collectives(forward, {2, true, true});
  CHECK(index_of(chunked, "shared_fc1#c1") >= 0);
  CHECK(index_of(chunked, "shared_rs#c1") >= 0);
  for (const auto& op : chunked) {
    if (op.phase == "ep_comm") CHECK_FALSE(op.chunked);
  }
  const auto mc2 = model::chunk_tp_collectives(forward, {2, true, false});
  CHECK(index_of(mc2, "shared_fc1") >= 0);
  CHECK(index_of(mc2, "shared_fc1#c0") == -1);
  CHECK(index_of(mc2, "attn_in#c0") >= 0);
}

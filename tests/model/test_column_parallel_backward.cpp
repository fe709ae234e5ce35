// Megatron's column-parallel backward: with SP the input is gathered again beside dX and dX is reduce-scattered
// beside dW; a split backward keeps dX's collective in B and gathers the input in W before dW.
#include <catch2/catch.hpp>
#include <string>

#include "model/column_parallel_backward.hpp"
#include "model/training_blocks.hpp"
#include "block_op_names.hpp"
#include "training_fixtures.hpp"

using namespace moesim;
using test::names;
using model::BlockOp;

namespace {

model::SlotBackward slot(bool sp) {
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(4, 1, 1, 1, 1, 1, false, sp), 1024, 2,
                                         2);
  const auto forward = model::layer_forward(test::tiny_dense_model(), model::training_shape(s), false);
  return model::column_parallel_backward(model::backward_ops(forward, model::Pass::BackwardInput),
                                         model::backward_ops(forward, model::Pass::BackwardWeight), sp);
}

}  // namespace

TEST_CASE("column-parallel backward with SP: input AllGather beside dX, dX ReduceScatter beside dW") {
  const auto b = slot(true);
  CHECK(names(b.whole) == std::vector<std::string>{"ffn_rs_b", "ffn_fc2_b", "ffn_fc1_input_ag", "ffn_fc1_b",
                                                   "ffn_ag_b", "ffn_fc1_w", "ffn_norm_b", "attn_rs_b", "o_proj_b",
                                                   "attn_core_b", "attn_in_input_ag", "attn_in_b", "attn_ag_b",
                                                   "attn_in_w", "attn_norm_b", "ffn_fc2_w", "o_proj_w"});
  const auto at = [&](const std::string& name) -> const BlockOp& {
    for (const auto& op : b.whole) {
      if (op.name == name) return op;
    }
    FAIL(name);
    return b.whole.front();
  };
  CHECK(at("attn_in_input_ag").kind == model::CollectiveKind::AllGather);
  CHECK(at("attn_in_input_ag").chunk_async);
  CHECK(at("attn_in_input_ag").elements == Approx(at("attn_ag_b").elements));
  CHECK(at("attn_ag_b").chunk_async);  // the dX ReduceScatter leaves the chain
  CHECK(at("attn_in_b").chunked);
  CHECK_FALSE(at("attn_in_b").chunk_async);
  CHECK(at("attn_in_w").chunk_input_back == 3);  // waits for its input's AllGather, three places back
  CHECK_FALSE(at("o_proj_w").chunked);            // row-parallel: dW needs no collective, stays with the dw ops
  CHECK_FALSE(at("attn_rs_b").chunked);           // the gradient's AllGather before o_proj_b still blocks
  // W of a split backward: the input gathered (blocking) in front of each column-parallel dW
  CHECK(names(b.weight) == std::vector<std::string>{"ffn_fc2_w", "ffn_fc1_input_ag", "ffn_fc1_w", "o_proj_w",
                                                    "attn_in_input_ag", "attn_in_w"});
  CHECK_FALSE(b.weight[1].chunk_async);
}

TEST_CASE("column-parallel backward without SP: the list stays as it is (its AllReduce is not beside a dX matmul)") {
  // The mirrored list puts each TP AllReduce where the forward had it, in front of the row-parallel dX, so no
  // column-parallel dX is followed by one: nothing to overlap (docs/training.md, "Per-layer blocks").
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(4, 1, 1), 1024, 2, 2);
  const auto forward = model::layer_forward(test::tiny_dense_model(), model::training_shape(s), false);
  const auto dx = model::backward_ops(forward, model::Pass::BackwardInput);
  const auto dw = model::backward_ops(forward, model::Pass::BackwardWeight);
  const auto b = model::column_parallel_backward(dx, dw, false);
  std::vector<std::string> whole = names(dx);
  for (const auto& n : names(dw)) whole.push_back(n);
  CHECK(names(b.whole) == whole);
  CHECK(names(b.weight) == names(dw));
}

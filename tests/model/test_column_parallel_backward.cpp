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

TEST_CASE("without SP: the backward AllReduce sits at the column-parallel end, then runs beside dW") {
  // Megatron: the row-parallel output's AllReduce has an identity backward, the column-parallel input's identity
  // an AllReduce of dX: in the input-gradient list each region's AllReduce comes after its column-parallel dX
  const auto s = test::training_scenario(test::tiny_dense_model(), test::layout(4, 1, 1), 1024, 2, 2);
  const auto forward = model::layer_forward(test::tiny_dense_model(), model::training_shape(s), false);
  const auto dx = model::backward_ops(forward, model::Pass::BackwardInput);
  CHECK(names(dx) == std::vector<std::string>{"ffn_fc2_b", "ffn_fc1_b", "ffn_ar_b", "ffn_norm_b", "o_proj_b",
                                              "attn_core_b", "attn_in_b", "attn_ar_b", "attn_norm_b"});
  const auto b = model::column_parallel_backward(dx, model::backward_ops(forward, model::Pass::BackwardWeight), false);
  CHECK(names(b.whole) == std::vector<std::string>{"ffn_fc2_b", "ffn_fc1_b", "ffn_ar_b", "ffn_fc1_w", "ffn_norm_b",
                                                   "o_proj_b", "attn_core_b", "attn_in_b", "attn_ar_b", "attn_in_w",
                                                   "attn_norm_b", "ffn_fc2_w", "o_proj_w"});
  for (const auto& op : b.whole) {
    CHECK(op.name.find("_input_ag") == std::string::npos);  // the input is whole without SP: nothing to gather
    if (op.name == "attn_ar_b") CHECK(op.chunk_async);
    if (op.name == "attn_in_w") CHECK(op.chunk_input_back == 0);
  }
  CHECK(names(b.weight) == std::vector<std::string>{"ffn_fc2_w", "ffn_fc1_w", "o_proj_w", "attn_in_w"});
}

TEST_CASE("without SP, a MoE layer's AllReduce comes after the shared experts' and router's dX, before the norm") {
  const auto s = test::training_scenario(test::tiny_moe_model(), test::layout(2, 1, 2, 1, 1, 2, true), 1024, 1, 2);
  const auto forward = model::layer_forward(test::tiny_moe_model(), model::training_shape(s), true);
  const auto dx = names(model::backward_ops(forward, model::Pass::BackwardInput));
  const auto at = [&](const std::string& name) { return std::find(dx.begin(), dx.end(), name) - dx.begin(); };
  REQUIRE(at("moe_ar_b") < static_cast<long>(dx.size()));
  CHECK(at("moe_ar_b") == at("ffn_norm_b") - 1);
  CHECK(at("moe_ar_b") > at("router_b"));
  CHECK(at("moe_ar_b") > at("shared_fc1_b"));
  CHECK(at("attn_ar_b") == at("attn_norm_b") - 1);
}

TEST_CASE("without SP the embedding's output AllReduce has no backward, with SP its ReduceScatter mirrors to AllGather") {
  const auto plain = test::training_scenario(test::tiny_dense_model(), test::layout(4, 1, 1), 1024, 2, 2);
  const auto no_sp = model::embedding_forward(test::tiny_dense_model(), model::training_shape(plain));
  REQUIRE(names(no_sp) == std::vector<std::string>{"embed", "embed_ar"});
  CHECK(model::backward_ops(no_sp, model::Pass::BackwardInput).empty());  // the lookup has no dx either
  const auto sp = test::training_scenario(test::tiny_dense_model(), test::layout(4, 1, 1, 1, 1, 1, false, true), 1024,
                                          2, 2);
  const auto with_sp = model::backward_ops(model::embedding_forward(test::tiny_dense_model(), model::training_shape(sp)),
                                           model::Pass::BackwardInput);
  REQUIRE(names(with_sp) == std::vector<std::string>{"embed_rs_b"});
  CHECK(with_sp[0].kind == model::CollectiveKind::AllGather);
}

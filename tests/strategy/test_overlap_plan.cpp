// Adaptive Pipe overlap plans: a (backward, forward) pair alternates the two tasks' pieces (each ending at an EP
// all-to-all) so that Attn(F) follows Combine(B), MLP(B) follows Dispatch(F), MLP(F) follows Dispatch(B) and
// Attn(B) follows Combine(F); unpaired tasks move the shared experts under the all-to-alls; the step graph stays
// valid with the same FLOPs; bad params and layouts are reported.
#include <catch2/catch.hpp>
#include <set>

#include "../model/training_fixtures.hpp"
#include "model/training_blocks.hpp"
#include "strategy/catalog.hpp"
#include "strategy/overlap.hpp"
#include "strategy/overlap_adaptive_pipe.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;
using model::BlockOp;
using strategy::PlannedOp;

namespace {

// One MoE layer of the tiny model, EP 4 (TP 1): forward and its B (dx) list.
struct Layer {
  std::vector<BlockOp> forward, backward_input, backward_whole;
};

Layer moe_layer(model::MoeCommPlan comm = {}) {
  model::TrainingShape shape;
  shape.tokens = 1024;
  shape.seq_len = 1024;
  shape.ep_size = 4;
  shape.moe_comm = comm;
  Layer l;
  l.forward = model::layer_forward(test::tiny_moe_model(), shape, true);
  l.backward_input = model::backward_ops(l.forward, model::Pass::BackwardInput);
  l.backward_whole = l.backward_input;
  for (const auto& op : model::backward_ops(l.forward, model::Pass::BackwardWeight)) l.backward_whole.push_back(op);
  return l;
}

std::vector<std::string> names(const std::vector<PlannedOp>& plan,
                               const std::vector<const std::vector<BlockOp>*>& lists) {
  std::vector<std::string> out;
  for (const auto& p : plan) {
    out.push_back((plan.size() > lists[0]->size() ? (p.task == 0 ? "B:" : "F:") : "") +
                  (*lists[static_cast<std::size_t>(p.task)])[p.op].name + (p.async ? "~" : "") + (p.join ? "" : "!"));
  }
  return out;
}

void check_each_op_once(const std::vector<PlannedOp>& plan, const std::vector<std::size_t>& sizes) {
  std::set<std::pair<int, std::size_t>> seen;
  for (const auto& p : plan) CHECK(seen.insert({p.task, p.op}).second);
  std::size_t total = 0;
  for (auto n : sizes) total += n;
  CHECK(plan.size() == total);
}

std::size_t position(const std::vector<std::string>& v, const std::string& name) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == name) return i;
  }
  FAIL("not in plan: " << name);
  return 0;
}

}  // namespace

TEST_CASE("a pair alternates backward and forward pieces: each all-to-all runs under the other side's compute") {
  const auto l = moe_layer();
  const auto plan = strategy::interleaved_pair_plan(l.backward_input, l.forward);
  check_each_op_once(plan, {l.backward_input.size(), l.forward.size()});
  const auto n = names(plan, {&l.backward_input, &l.forward});
  // B: unpermute_b, combine_b~ | F: attention ... permute, dispatch~ | B: experts_b, dispatch_b~ |
  // F: experts, combine~ | B: permute_b ... attention dx | F: unpermute
  const auto combine_b = position(n, "B:combine_b~"), dispatch_f = position(n, "F:dispatch~");
  const auto dispatch_b = position(n, "B:dispatch_b~"), combine_f = position(n, "F:combine~");
  CHECK(position(n, "B:unpermute_b") < combine_b);
  CHECK(combine_b < position(n, "F:attn_core"));  // Attn(F) || Combine(B)
  CHECK(position(n, "F:attn_core") < dispatch_f);
  CHECK(dispatch_f < position(n, "B:experts_b"));  // MLP(B) || Dispatch(F)
  CHECK(position(n, "B:experts_b") < dispatch_b);
  CHECK(dispatch_b < position(n, "F:experts"));  // MLP(F) || Dispatch(B)
  CHECK(position(n, "F:experts") < combine_f);
  CHECK(combine_f < position(n, "B:attn_core_b"));
  CHECK(position(n, "B:attn_core_b") < position(n, "F:unpermute"));
  for (const auto& p : plan) CHECK(p.join);  // each side waits for its own all-to-all before its next op
}

model::MoeCommPlan hierarchical() {
  return {model::MoeDispatch::HierarchicalEp, 2, 2};  // EP 4 = 2 nodes x 2 members
}

TEST_CASE("EP stages: hierarchical EP's AllGather -> permute -> AllToAllV is one stage, the experts end it") {
  const auto l = moe_layer(hierarchical());
  const auto stages = strategy::ep_stages(l.forward);
  REQUIRE(stages.size() == 2);
  CHECK(l.forward[stages[0].first].name == "ep_ag");
  CHECK(l.forward[stages[0].first + 1].name == "permute");
  CHECK(l.forward[stages[0].last].name == "dispatch");
  CHECK(l.forward[stages[1].first].name == "combine");
  CHECK(l.forward[stages[1].first + 1].name == "unpermute");
  CHECK(l.forward[stages[1].last].name == "ep_rs");
  const auto inside = strategy::ep_stage_compute(l.forward);
  std::vector<std::string> compute_inside;
  for (std::size_t i = 0; i < inside.size(); ++i) {
    if (inside[i]) compute_inside.push_back(l.forward[i].name);
  }
  CHECK(compute_inside == std::vector<std::string>{"permute", "unpermute"});  // not the experts (grouped matmul)
  // backward mirror: ep_rs_b (AllGather) -> unpermute_b -> combine_b | experts_b | dispatch_b -> permute_b -> ep_ag_b
  const auto b = strategy::ep_stages(l.backward_input);
  REQUIRE(b.size() == 2);
  CHECK(l.backward_input[b[0].last].name == "combine_b");
  CHECK(l.backward_input[b[1].first].name == "dispatch_b");
  // plain all-to-all: the permutation precedes the dispatch, outside any stage; one collective per stage
  const auto flat = moe_layer();
  for (const auto& stage : strategy::ep_stages(flat.forward)) CHECK(stage.first == stage.last);
  for (bool in : strategy::ep_stage_compute(flat.forward)) CHECK_FALSE(in);
}

TEST_CASE("hierarchical EP pair: each whole EP stage runs under the other side's compute, permutations async") {
  const auto l = moe_layer(hierarchical());
  const auto plan = strategy::interleaved_pair_plan(l.backward_input, l.forward);
  check_each_op_once(plan, {l.backward_input.size(), l.forward.size()});
  const auto n = names(plan, {&l.backward_input, &l.forward});
  // B: ep_rs_b~ unpermute_b~ combine_b~ | F: attention ... router, ep_ag~ permute~ dispatch~ | B: experts_b,
  // dispatch_b~ permute_b~ ep_ag_b~ | F: experts, combine~ unpermute~ ep_rs~ | B: router_b ... attention dx
  CHECK(position(n, "B:unpermute_b~") + 1 == position(n, "B:combine_b~"));
  CHECK(position(n, "B:combine_b~") < position(n, "F:attn_core"));  // Attn(F) || Combine(B) stage
  CHECK(position(n, "F:permute~") + 1 == position(n, "F:dispatch~"));
  CHECK(position(n, "F:dispatch~") < position(n, "B:experts_b"));  // MLP(B) || Dispatch(F) stage
  CHECK(position(n, "B:ep_rs_b~") + 1 == position(n, "B:unpermute_b~"));
  CHECK(position(n, "B:permute_b~") + 1 == position(n, "B:ep_ag_b~"));
  CHECK(position(n, "B:ep_ag_b~") < position(n, "F:experts"));    // MLP(F) || Dispatch(B) stage
  CHECK(position(n, "F:ep_rs~") < position(n, "B:attn_core_b"));  // Attn(B) || Combine(F) stage
}

TEST_CASE(
    "pair with a whole backward: the routed experts' dw runs under the forward's combine, before the "
    "attention dx (pair_expert_dw_early)") {
  const auto l = moe_layer(hierarchical());
  const auto plan = strategy::interleaved_pair_plan(l.backward_whole, l.forward);
  check_each_op_once(plan, {l.backward_whole.size(), l.forward.size()});
  const auto n = names(plan, {&l.backward_whole, &l.forward});
  // ... F: experts, combine~ unpermute~ ep_rs~ | B: experts_w! router_b ... attention dx, other dw
  CHECK(position(n, "F:ep_rs~") + 1 == position(n, "B:experts_w!"));  // heads the piece under Combine(F)
  CHECK(position(n, "B:experts_w!") < position(n, "B:router_b"));
  CHECK(position(n, "B:experts_w!") < position(n, "B:attn_core_b"));
  CHECK(position(n, "B:ep_ag_b~") < position(n, "B:experts_w!"));  // after its layer's dispatch is issued
  // off: the dw keeps its place after the layer's input gradient, the plan is the plain alternation
  const auto off =
      names(strategy::interleaved_pair_plan(l.backward_whole, l.forward, {}, false), {&l.backward_whole, &l.forward});
  CHECK(position(off, "B:attn_core_b") < position(off, "B:experts_w"));
  CHECK(position(off, "F:ep_rs~") + 1 == position(off, "B:router_b"));
  // the backward list of B tasks (no dw) is unchanged by the option
  CHECK(
      names(strategy::interleaved_pair_plan(l.backward_input, l.forward), {&l.backward_input, &l.forward}) ==
      names(strategy::interleaved_pair_plan(l.backward_input, l.forward, {}, false), {&l.backward_input, &l.forward}));
}

TEST_CASE("same-direction pair (pair_warmup_cooldown): two forwards alternate, the earlier one first") {
  const auto l = moe_layer();
  const auto plan = strategy::interleaved_pair_plan(l.forward, l.forward);
  check_each_op_once(plan, {l.forward.size(), l.forward.size()});
  const auto n = names(plan, {&l.forward, &l.forward});            // "B:" = the earlier forward, "F:" = the later one
  CHECK(position(n, "B:dispatch~") < position(n, "F:attn_core"));  // the later Attn hides the earlier dispatch
  CHECK(position(n, "F:dispatch~") < position(n, "B:experts"));    // the earlier MLP hides the later dispatch
  CHECK(position(n, "B:combine~") < position(n, "F:experts"));     // the later MLP hides the earlier combine
  CHECK(position(n, "B:unpermute") < position(n, "F:unpermute"));  // the earlier one ends first
  CHECK(n.back() == "F:unpermute");  // nothing is left to hide the later forward's last combine
}

TEST_CASE("unpaired forward: the shared expert runs under the dispatch, the combine stays exposed") {
  const auto l = moe_layer();
  const strategy::PipelineTask forward{0, 0, true};
  const auto plan = strategy::hidden_single_plan(forward, l.forward);
  check_each_op_once(plan, {l.forward.size()});
  const auto n = names(plan, {&l.forward});
  const auto dispatch = position(n, "dispatch~");
  CHECK(position(n, "shared_fc1!") == dispatch + 1);  // does not wait for the dispatch
  CHECK(position(n, "shared_fc2!") == dispatch + 2);
  CHECK(position(n, "router") < dispatch);
  CHECK(position(n, "experts") == dispatch + 3);  // joins: waits for the tokens
  CHECK(position(n, "combine~") + 1 == position(n, "unpermute"));
}

TEST_CASE("unpaired backward: shared-expert dx under the combine, routed-expert dw under the dispatch") {
  const auto l = moe_layer();
  const strategy::PipelineTask whole{0, 0, false};
  const auto plan = strategy::hidden_single_plan(whole, l.backward_whole);
  check_each_op_once(plan, {l.backward_whole.size()});
  const auto n = names(plan, {&l.backward_whole});
  CHECK(position(n, "shared_fc2_b!") == position(n, "combine_b~") + 1);
  CHECK(position(n, "shared_fc1_b!") == position(n, "combine_b~") + 2);
  CHECK(position(n, "experts_b") == position(n, "shared_fc1_b!") + 1);
  CHECK(position(n, "experts_w!") == position(n, "dispatch_b~") + 1);
  CHECK(position(n, "shared_fc1_w") > position(n, "attn_core_b"));  // other dw ops stay where they were
  // B only (zero_bubble): no dw in the list, the dispatch stays exposed
  const strategy::PipelineTask input{0, 0, false, strategy::BackwardPart::Input};
  const auto b = names(strategy::hidden_single_plan(input, l.backward_input), {&l.backward_input});
  CHECK(position(b, "permute_b") == position(b, "dispatch_b~") + 1);
}

TEST_CASE("unpaired backward: a layer's other dw ops run under the next layer's combine (defer_weight_gradients)") {
  const auto l = moe_layer();
  // two MoE layers L1 (backward first) then L0, slot by slot: dx then dw
  std::vector<BlockOp> whole;
  for (const char* label : {"L1.", "L0."}) {
    for (auto op : l.backward_whole) {
      op.name = label + op.name;
      whole.push_back(op);
    }
  }
  const strategy::PipelineTask task{0, 0, false};
  const auto n = names(strategy::hidden_single_plan(task, whole), {&whole});
  CHECK(position(n, "L1.o_proj_w!") > position(n, "L0.combine_b~"));         // under L0's combine, not waiting for it
  CHECK(position(n, "L1.attn_in_w!") < position(n, "L0.experts_b"));         // ... before L0's MLP dx, which joins it
  CHECK(position(n, "L1.experts_w!") == position(n, "L1.dispatch_b~") + 1);  // the routed experts' dw as before
  CHECK(position(n, "L0.o_proj_w") > position(n, "L0.attn_core_b"));  // no EP stage after the last layer: in place
  const auto kept = names(strategy::hidden_single_plan(task, whole, false), {&whole});
  CHECK(position(kept, "L1.o_proj_w") < position(kept, "L0.combine_b~"));
}

TEST_CASE("adaptive_pipe pairs a backward (and the W's after it) with the forward that follows, per its params") {
  const strategy::AdaptivePipe pipe;
  const strategy::PipelineTask f{3, 0, true}, b{0, 0, false}, bi{0, 0, false, strategy::BackwardPart::Input},
      w{0, 0, false, strategy::BackwardPart::Weight};
  using Order = std::vector<strategy::PipelineTask>;
  CHECK(pipe.group(Order{b, f}, 0) == 2);
  CHECK(pipe.group(Order{bi, f}, 0) == 2);
  CHECK(pipe.group(Order{bi, w, w, f}, 0) == 4);  // zero_bubble: the W's between B and F join the pair
  CHECK(pipe.group(Order{f, b}, 0) == 1);
  CHECK(pipe.group(Order{w, f}, 0) == 1);
  CHECK(pipe.group(Order{b, b}, 0) == 1);
  CHECK(pipe.group(Order{bi, w}, 0) == 1);
  CHECK(pipe.group(Order{f, b, f}, 1) == 2);
  CHECK(pipe.group(Order{f, f}, 0) == 1);  // same-direction pairs are off by default
  const auto vpp2 = test::layout(1, 2, 4, 2);
  const strategy::AdaptivePipe all_pairs(strategy::adaptive_pipe_options({{"pair_warmup_cooldown", true}}, vpp2));
  CHECK(all_pairs.group(Order{f, f, f}, 0) == 2);  // warm-up: two forwards
  CHECK(all_pairs.group(Order{f, f, f}, 2) == 1);  // an odd one out stays alone
  CHECK(all_pairs.group(Order{b, b}, 0) == 2);     // cool-down: two backwards
  CHECK(all_pairs.group(Order{bi, w, bi}, 0) == 3);
  CHECK(all_pairs.group(Order{bi, w}, 0) == 1);
  CHECK(all_pairs.group(Order{b, f}, 0) == 2);  // the steady (backward, forward) pairs are unchanged
  CHECK_FALSE(strategy::adaptive_pipe_options(nlohmann::json::object(), vpp2).pair_warmup_cooldown);
  CHECK(strategy::adaptive_pipe_options(nlohmann::json::object(), vpp2).pair_expert_dw_early);
  CHECK_FALSE(strategy::adaptive_pipe_options({{"pair_expert_dw_early", false}}, vpp2).pair_expert_dw_early);
  const strategy::AdaptivePipe unpaired(strategy::adaptive_pipe_options({{"pair_forward_backward", false}}, vpp2));
  CHECK(unpaired.group(Order{b, f}, 0) == 1);
  // default: pairs where the pipeline allows them (vpp > 1 or pp == 1), not under plain 1F1B with pp > 1
  CHECK(strategy::adaptive_pipe_options(nlohmann::json::object(), vpp2).pair_forward_backward);
  CHECK(strategy::adaptive_pipe_options(nlohmann::json::object(), test::layout(1, 1, 4)).pair_forward_backward);
  CHECK_FALSE(strategy::adaptive_pipe_options(nlohmann::json::object(), test::layout(1, 2, 4)).pair_forward_backward);
}

TEST_CASE("the adaptive_pipe step graph is valid, keeps every op and puts paired all-to-alls on the EP stream") {
  // tiny MoE, TP 1, PP 2 x VPP 2, DP 4 with EP 4, 8 micro-batches
  auto s =
      test::training_scenario(test::tiny_moe_model(), test::layout(1, 2, 4, 2, 1, 4, false, false, 1), 1024, 1, 32);
  const auto plain = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  s.strategies.push_back({"adaptive_pipe", nlohmann::json::object(), "/strategies/0"});
  const auto overlapped = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  REQUIRE_NOTHROW(model::validate(overlapped.graph));
  CHECK(overlapped.overlap == "adaptive_pipe");
  CHECK(plain.overlap.empty());
  CHECK(overlapped.graph.ops.size() == plain.graph.ops.size());
  CHECK(overlapped.graph.collectives.size() == plain.graph.collectives.size());
  double flops_plain = 0.0, flops_overlapped = 0.0;
  for (const auto& op : plain.graph.ops) flops_plain += op.compute.flops;
  for (const auto& op : overlapped.graph.ops) flops_overlapped += op.compute.flops;
  CHECK(flops_overlapped == Approx(flops_plain).epsilon(1e-12));
  int ep_stream = 0, ep_total = 0;
  for (const auto& op : overlapped.graph.ops) {
    if (op.phase != "ep_comm") continue;
    ++ep_total;
    ep_stream += op.stream == 9;
  }
  CHECK(ep_total > 0);
  CHECK(ep_stream == ep_total);  // with both effects on, every dispatch and combine runs async
  for (const auto& op : plain.graph.ops) CHECK(op.stream != 9);
}

TEST_CASE("a pair with W tasks: the W ops follow the backward's last piece, before the forward's last piece") {
  const auto l = moe_layer();
  const auto w = model::backward_ops(l.forward, model::Pass::BackwardWeight);
  const auto plan = strategy::interleaved_pair_plan(l.backward_input, l.forward, {&w, &w});
  check_each_op_once(plan, {l.backward_input.size(), w.size(), w.size(), l.forward.size()});
  std::size_t last_b = 0, first_w = plan.size(), last_w = 0, last_f = 0;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].task == 0) last_b = i;
    if (plan[i].task == 1 || plan[i].task == 2) {
      first_w = std::min(first_w, i);
      last_w = i;
      CHECK_FALSE(plan[i].async);
    }
    if (plan[i].task == 3) last_f = i;
  }
  CHECK(first_w == last_b + 1);
  CHECK(last_w < last_f);
}

TEST_CASE("adaptive_pipe with zero_bubble builds: B tasks pair with the W's after them and the next forward") {
  auto s =
      test::training_scenario(test::tiny_moe_model(), test::layout(1, 2, 4, 2, 1, 4, false, false, 1), 1024, 1, 32);
  s.strategies.push_back({"zero_bubble", nlohmann::json::object(), "/strategies/0"});
  s.strategies.push_back({"adaptive_pipe", nlohmann::json::object(), "/strategies/1"});
  const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  REQUIRE_NOTHROW(model::validate(step.graph));
  CHECK(step.schedule == "zero_bubble");
}

TEST_CASE("adaptive_pipe params and layout are checked") {
  auto s =
      test::training_scenario(test::tiny_moe_model(), test::layout(1, 2, 4, 1, 1, 4, false, false, 1), 1024, 1, 32);
  s.file = "x.json";
  s.strategies.push_back({"adaptive_pipe", {{"pair_forward_backward", "yes"}, {"overlap_all", true}}, "/strategies/0"});
  config::IssueCollector issues("x.json");
  strategy::validate_strategies(s, issues);
  CHECK_THROWS_WITH(issues.throw_if_any(), Catch::Contains("/strategies/0/params/pair_forward_backward") &&
                                               Catch::Contains("/strategies/0/params/overlap_all: unknown key"));
  auto dense = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 4), 1024, 1, 32);
  dense.file = "y.json";
  dense.strategies.push_back({"adaptive_pipe", nlohmann::json::object(), "/strategies/0"});
  config::IssueCollector dense_issues("y.json");
  strategy::validate_strategies(dense, dense_issues);
  CHECK_THROWS_WITH(dense_issues.throw_if_any(), Catch::Contains("expert-parallel size above 1"));
  auto plain_1f1b = s;  // pp 2, vpp 1: pairs would serialise the stages
  plain_1f1b.strategies = {{"adaptive_pipe", {{"pair_forward_backward", true}}, "/strategies/0"}};
  config::IssueCollector pair_issues("x.json");
  strategy::validate_strategies(plain_1f1b, pair_issues);
  CHECK_THROWS_WITH(
      pair_issues.throw_if_any(),
      Catch::Contains("/strategies/0/params/pair_forward_backward: pairing") && Catch::Contains("vpp > 1 or pp = 1"));
  plain_1f1b.strategies = {{"adaptive_pipe", {{"pair_warmup_cooldown", true}}, "/strategies/0"}};
  config::IssueCollector same_issues("x.json");
  strategy::validate_strategies(plain_1f1b, same_issues);
  CHECK_THROWS_WITH(same_issues.throw_if_any(), Catch::Contains("/strategies/0/params/pair_warmup_cooldown: pairing"));
  int overlaps = 0;
  for (const auto& info : strategy::strategy_catalog()) overlaps += info.family == "overlap";
  CHECK(overlaps == 1);
}

TEST_CASE("adaptive_pipe without pipeline parallelism pairs consecutive micro-batches") {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(1, 1, 4, 1, 1, 4), 1024, 1, 16);
  s.strategies.push_back({"adaptive_pipe", {{"hide_in_warmup_cooldown", false}}, "/strategies/0"});
  const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  REQUIRE_NOTHROW(model::validate(step.graph));
  // 4 micro-batches: F0 | B0+F1 | B1+F2 | B2+F3 | B3; only the 3 pairs run their all-to-alls async
  int async = 0, total = 0;
  for (const auto& op : step.graph.ops) {
    if (op.phase != "ep_comm" || op.rank != 0) continue;
    ++total;
    async += op.stream == 9;
  }
  const int per_task = 2 * 6;  // dispatch + combine per MoE layer: 5 layers + the MTP layer
  CHECK(total == 8 * per_task);
  CHECK(async == 6 * per_task);
}

TEST_CASE("adaptive_pipe follows a schedule's own pairs (dualpipev): its (forward, backward) chunks, nothing else") {
  const strategy::AdaptivePipe pipe;
  strategy::PipelineTask f{3, 0, true}, b{0, 1, false};
  f.pairing = strategy::Pairing::WithNext;
  b.pairing = strategy::Pairing::Alone;
  auto lone_f = f;
  lone_f.pairing = strategy::Pairing::Alone;
  using Order = std::vector<strategy::PipelineTask>;
  CHECK(pipe.group(Order{f, b}, 0) == 2);
  CHECK(pipe.group(Order{b, lone_f}, 0) == 1);  // a backward then a forward, but the schedule did not overlap them
  const strategy::AdaptivePipe unpaired(
      strategy::adaptive_pipe_options({{"pair_forward_backward", false}}, test::layout(1, 2, 4, 2)));
  CHECK(unpaired.group(Order{f, b}, 0) == 1);
  // the plan of a (forward, backward) chunk is the (backward, forward) pair plan with the task indices swapped
  const auto l = moe_layer();
  const auto chunk = pipe.plan({f, b}, {&l.forward, &l.backward_whole});
  auto pair = strategy::interleaved_pair_plan(l.backward_whole, l.forward);
  REQUIRE(chunk.size() == pair.size());
  for (std::size_t i = 0; i < pair.size(); ++i) {
    CHECK(chunk[i].task == 1 - pair[i].task);
    CHECK(chunk[i].op == pair[i].op);
    CHECK(chunk[i].async == pair[i].async);
    CHECK(chunk[i].join == pair[i].join);
  }
}

TEST_CASE("adaptive_pipe with dualpipev builds a valid graph with every op, paired all-to-alls on the EP stream") {
  auto s =
      test::training_scenario(test::tiny_moe_model(), test::layout(1, 2, 4, 2, 1, 4, false, false, 1), 1024, 1, 32);
  s.strategies.push_back({"dualpipev", nlohmann::json::object(), "/strategies/0"});
  const auto plain = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  s.strategies.push_back({"adaptive_pipe", nlohmann::json::object(), "/strategies/1"});
  const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s));
  REQUIRE_NOTHROW(model::validate(step.graph));
  CHECK(step.schedule == "dualpipev");
  CHECK(step.graph.ops.size() == plain.graph.ops.size());
  int async = 0;
  for (const auto& op : step.graph.ops) async += op.phase == "ep_comm" && op.stream == 9;
  CHECK(async > 0);
}

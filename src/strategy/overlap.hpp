#pragma once
// Family "overlap": how a pipeline stage's tasks share its compute stream with their expert-parallel (EP)
// all-to-alls. Without an overlap strategy every collective blocks the next compute op of its task. An overlap
// strategy decides which consecutive tasks of a stage's order run as one interleaved group and returns an emission
// plan; the step builder (training_step_builder) follows it: each task keeps its own dependency chain, EP
// collectives marked `async` run on the rank's EP stream, and a task's op waits for its async collectives in
// flight only where the plan says `join`. docs/training.md ("Adaptive Pipe overlap").
#include <memory>
#include <string>
#include <vector>

#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/training_blocks.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

struct PlannedOp {
  int task = 0;        // index into the tasks being emitted (a single task, or the group)
  std::size_t op = 0;  // index into that task's op list
  // Off the task's compute chain, completion tracked as "in flight": an EP collective on the EP stream of its
  // communicator, or a compute op inside an EP stage (token permutation between two EP collectives) on the rank's
  // overlap stream. An async op waits for the task's ops in flight before it (the stage is one chain).
  bool async = false;
  bool join = true;  // ops on the compute chain: before this op, the task waits for all its async ops in flight
};

class OverlapStrategy {
 public:
  virtual ~OverlapStrategy() = default;
  virtual std::string name() const = 0;
  // Contract: how many consecutive tasks of a stage's order, from `i` on, are emitted as one group (>= 1; 1 =
  // alone); the group keeps the order's task sequence, so in-flight counts (memory) do not change.
  virtual std::size_t group(const std::vector<PipelineTask>& order, std::size_t i) const = 0;
  // Contract: lists one entry per op of every list exactly once; within a task, an op comes after every op of
  // that task it reads from (the forward dataflow of the list, or its mirror in the backward), and an op that
  // reads an async collective's result joins it.
  virtual std::vector<PlannedOp> plan(const std::vector<PipelineTask>& tasks,
                                      const std::vector<const std::vector<model::BlockOp>*>& lists) const = 0;
};

// The scenario's "overlap" strategy, or nullptr when it lists none.
std::unique_ptr<OverlapStrategy> make_overlap_strategy(const config::ScenarioConfig& scenario);

// Layout checks of the scenario's overlap strategy (e.g. adaptive_pipe needs expert parallelism), into `issues`.
void check_overlap_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

// Identity plan: every op in list order, every collective blocking (what the builder does without a strategy).
std::vector<PlannedOp> sequential_plan(const std::vector<const std::vector<model::BlockOp>*>& lists);

// An expert-parallel collective: dispatch / combine all-to-alls (and expert-TP collectives), phase "ep_comm".
bool is_ep_comm(const model::BlockOp& op);

// An EP stage of an op list: ops [first, last], a run of EP collectives that may have, between two of them, token
// (un)permutations (vector-class compute ops), e.g. hierarchical EP's AllGather -> permute -> AllToAllV (the
// dispatch) or AllToAllV -> unpermute -> ReduceScatter (the combine); first and last are EP collectives. Plain
// all-to-all: each dispatch and combine is a stage of one op.
struct EpStage {
  std::size_t first = 0, last = 0;
};
std::vector<EpStage> ep_stages(const std::vector<model::BlockOp>& ops);
// Per op of the list: true for the compute ops inside an EP stage (between two of its collectives).
std::vector<bool> ep_stage_compute(const std::vector<model::BlockOp>& ops);

}  // namespace moesim::strategy

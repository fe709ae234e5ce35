#pragma once
// A list simulation of a pipeline schedule's stage orders without communication: every stage runs its order on one
// stream, a task (or a group of consecutive tasks run as one unit) starting when the stage is free and its inputs are
// there (a forward: the previous pipeline position's forward of its micro-batch; an input gradient: the next
// position's, the last position's its own forward). A group hands every output on at its end. Data moves
// instantly. Cheap enough to score thousands of layer cuts (stage_balance) and exact for the schedules' unit-time
// bubble formulas (tests/strategy).
#include <cstddef>
#include <functional>
#include <vector>

#include "model/training_layout.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

struct CompactRun {
  double makespan_s = 0.0;
  std::vector<double> busy_s;  // per stage
};

// Task duration on its stage, and how many consecutive tasks from order[i] on form one unit (>= 1).
using TaskDuration = std::function<double(int stage, const PipelineTask& task)>;
using TaskGrouping = std::function<std::size_t(const std::vector<PipelineTask>& order, std::size_t i)>;

class CompactTimeline {
 public:
  // `orders[s]` is stage s's order; `grouping` empty = every task alone.
  CompactTimeline(std::vector<std::vector<PipelineTask>> orders, model::ChunkPlacement placement, int vpp,
                  int micro_batches, const TaskGrouping& grouping = {});
  // Throws std::logic_error when the orders deadlock.
  CompactRun run(const TaskDuration& duration) const;

 private:
  std::size_t cell(const PipelineTask& task, int stage) const;
  // When the task's input is there (-1: not yet).
  double input_ready(const PipelineTask& task, int stage, const std::vector<double>& forward_end,
                     const std::vector<double>& input_end) const;
  void mark(const PipelineTask& task, int stage, std::vector<double>& forward_end, std::vector<double>& input_end,
            double at) const;

  std::vector<std::vector<PipelineTask>> orders_;
  std::vector<std::vector<std::size_t>> groups_;  // per stage: tasks per unit, in order
  model::ChunkPlacement placement_;
  int pp_, positions_, micro_batches_;
};

}  // namespace moesim::strategy

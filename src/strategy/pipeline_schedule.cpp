#include "strategy/pipeline_schedule.hpp"

#include <stdexcept>

#include "strategy/pipeline_1f1b.hpp"
#include "strategy/pipeline_dualpipev.hpp"
#include "strategy/pipeline_interleaved_1f1b.hpp"
#include "strategy/pipeline_zbv.hpp"
#include "strategy/pipeline_zero_bubble.hpp"

namespace moesim::strategy {

std::vector<std::string> pipeline_schedule_names() {
  return {"1f1b", "interleaved_1f1b", "zero_bubble", "dualpipev", "zbv"};
}

std::unique_ptr<PipelineSchedule> make_pipeline_schedule(const std::string& name) {
  if (name == "1f1b") return std::make_unique<OneFOneB>();
  if (name == "interleaved_1f1b") return std::make_unique<InterleavedOneFOneB>();
  if (name == "zero_bubble") return std::make_unique<ZeroBubbleH1>();
  if (name == "dualpipev") return std::make_unique<DualPipeV>();
  if (name == "zbv") return std::make_unique<ZeroBubbleV>();
  std::string known;
  for (const auto& n : pipeline_schedule_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown pipeline schedule \"" + name + "\" (known: " + known + ")");
}

std::unique_ptr<PipelineSchedule> make_pipeline_schedule(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == "zero_bubble") return make_zero_bubble(spec.params);
    for (const auto& name : pipeline_schedule_names()) {
      if (spec.name == name) return make_pipeline_schedule(name);
    }
  }
  return make_pipeline_schedule(scenario.parallel.vpp > 1 ? "interleaved_1f1b" : "1f1b");
}

std::vector<std::vector<PipelineTask>> stage_orders(const PipelineSchedule& schedule,
                                                    const config::ScenarioConfig& scenario) {
  const auto& p = scenario.parallel;
  std::vector<std::vector<PipelineTask>> orders;
  for (int s = 0; s < p.pp; ++s)
    orders.push_back(schedule.stage_order(s, p.pp, p.vpp, config::micro_batches_per_step(scenario)));
  return orders;
}

model::ChunkPlacement chunk_placement(const config::ScenarioConfig& scenario) {
  return make_pipeline_schedule(scenario)->placement();
}

void check_pipeline_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  if (scenario.type != config::ScenarioType::Training) {
    for (const auto& spec : scenario.strategies) {
      for (const auto& name : pipeline_schedule_names()) {
        if (spec.name != name) continue;
        issues.error(config::pointer_child(spec.pointer, "name"),
                     name + " schedules the micro-batches of training steps; this scenario is " +
                         config::to_string(scenario.type) + " (drop it: it would change nothing)");
      }
    }
    return;
  }
  if (!scenario.training) return;
  const auto& p = scenario.parallel;
  if (const auto problem =
          make_pipeline_schedule(scenario)->layout_problem(p.pp, p.vpp, config::micro_batches_per_step(scenario))) {
    issues.error(problem->pointer, problem->message);
  }
}

int peak_in_flight(const std::vector<PipelineTask>& order, int vpp, std::vector<int>* per_chunk) {
  std::vector<int> live(static_cast<std::size_t>(vpp), 0);
  int current = 0, peak = 0;
  if (per_chunk) per_chunk->assign(static_cast<std::size_t>(vpp), 0);
  for (const auto& task : order) {
    if (!task.forward && !task.releases()) continue;
    const int delta = task.forward ? 1 : -1;
    live[static_cast<std::size_t>(task.chunk)] += delta;
    current += delta;
    if (current > peak) {
      peak = current;
      if (per_chunk) *per_chunk = live;
    }
  }
  return peak;
}

}  // namespace moesim::strategy

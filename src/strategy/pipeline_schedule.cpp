#include "strategy/pipeline_schedule.hpp"

#include <stdexcept>

#include "strategy/pipeline_1f1b.hpp"
#include "strategy/pipeline_dualpipev.hpp"
#include "strategy/pipeline_interleaved_1f1b.hpp"
#include "strategy/pipeline_zero_bubble.hpp"

namespace moesim::strategy {

std::vector<std::string> pipeline_schedule_names() {
  return {"1f1b", "interleaved_1f1b", "zero_bubble", "dualpipev"};
}

std::unique_ptr<PipelineSchedule> make_pipeline_schedule(const std::string& name) {
  if (name == "1f1b") return std::make_unique<OneFOneB>();
  if (name == "interleaved_1f1b") return std::make_unique<InterleavedOneFOneB>();
  if (name == "zero_bubble") return std::make_unique<ZeroBubbleH1>();
  if (name == "dualpipev") return std::make_unique<DualPipeV>();
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

model::ChunkPlacement chunk_placement(const config::ScenarioConfig& scenario) {
  return make_pipeline_schedule(scenario)->placement();
}

void check_pipeline_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  if (scenario.type != config::ScenarioType::Training || !scenario.training) return;
  const auto& p = scenario.parallel;
  const std::string name = make_pipeline_schedule(scenario)->name();
  const int micro_batches = config::micro_batches_per_step(scenario);
  const auto str = [](int n) { return std::to_string(n); };
  if (name == "1f1b" && p.vpp != 1) {
    issues.error("/parallel/vpp", "pipeline schedule 1f1b runs one model chunk per stage, but vpp = " + str(p.vpp) +
                                      "; use interleaved_1f1b (or vpp 1)");
  } else if (name == "dualpipev" && p.vpp != 2) {
    issues.error("/parallel/vpp",
                 "dualpipev places two model chunks per stage in a V: needs vpp = 2, got " + str(p.vpp));
  } else if (name == "dualpipev" && micro_batches < 2 * p.pp) {
    issues.error("/training/global_batch_size", "dualpipev needs at least 2 x pp = " + str(2 * p.pp) +
                                                    " micro-batches per DP rank, got " + str(micro_batches));
  } else if (name != "dualpipev" && p.vpp > 1 && micro_batches % p.pp != 0) {
    issues.error("/training/global_batch_size", "interleaved pipeline (vpp > 1) needs micro-batches (" +
                                                    str(micro_batches) + ") to be a multiple of pp (" + str(p.pp) +
                                                    ")");
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

#include "strategy/pipeline_stage_balance.hpp"

#include <algorithm>
#include <functional>
#include <tuple>

#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "model/training_memory.hpp"
#include "strategy/block_time_estimates.hpp"
#include "strategy/data_balance_sequences.hpp"
#include "strategy/expert_loads.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"
#include "strategy/moe_comm.hpp"
#include "strategy/overlap.hpp"
#include "strategy/pipeline_compact_timeline.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/step_shape.hpp"

namespace moesim::strategy {

namespace {

// Forward, input-gradient and weight-gradient time of one micro-batch through a part (slot, embedding, head) or a
// pipeline position on one rank.
struct PassTimes {
  double forward_s = 0.0, input_s = 0.0, weight_s = 0.0;
  double total_s() const { return forward_s + input_s + weight_s; }
  PassTimes& operator+=(const PassTimes& o) {
    forward_s += o.forward_s;
    input_s += o.input_s;
    weight_s += o.weight_s;
    return *this;
  }
};

// The attention work a stage's step pays per micro-batch: the mean, under CP that of the slowest query shard (CP
// ranks meet at every layer).
double slowest_shard_work(const model::MicroBatchWork& work) {
  return work.mean() * work.cp_shard_max_over_mean();
}

// Per model layer, the first step's busiest EP rank: its routed-expert rows over the balanced ones (`compute`) and
// its share of the dispatched rows over 1 / ep (`receive`); with per-micro-batch loads the mean over the micro-batches
// of each one's busiest rank (every micro-batch waits for its own). Empty for a uniform load.
struct LayerLoadFactors {
  std::vector<double> compute, receive;
};

LayerLoadFactors busiest_rank_factors(const config::ScenarioConfig& scenario) {
  LayerLoadFactors out;
  const auto loads = scenario_expert_loads(scenario);
  if (loads.steps.empty() || loads.steps.front().uniform()) return out;
  const std::vector<model::ExpertLoad> step_only = {loads.steps.front()};
  const auto& samples =
      loads.micro_batches.empty() || loads.micro_batches.front().empty() ? step_only : loads.micro_batches.front();
  const auto layers = static_cast<std::size_t>(scenario.model->num_layers);
  out.compute.assign(layers, 0.0);
  out.receive.assign(layers, 0.0);
  for (const auto& load : samples) {
    for (std::size_t l = 0; l < layers; ++l) {
      double compute = 1.0, receive = 1.0;
      for (int j = 0; j < load.ep_size; ++j) {
        compute = std::max(compute, load.factor(static_cast<int>(l), j));
        receive = std::max(receive, load.ep_size * load.receive_share(static_cast<int>(l), j));
      }
      out.compute[l] += compute / static_cast<double>(samples.size());
      out.receive[l] += receive / static_cast<double>(samples.size());
    }
  }
  return out;
}

// Times parts with the roofline and collective estimates (block_time_estimates), on the shape the step builder uses.
class PartTimer {
 public:
  explicit PartTimer(const config::ScenarioConfig& scenario)
      : scenario_(scenario),
        layout_(scenario.parallel, scenario.parallel.dp, scenario.topology.ranks_per_node()),
        shape_(step_shape(scenario)),
        timer_(scenario, layout_),
        hide_ep_(make_overlap_strategy(scenario) != nullptr),
        attention_scale_(slowest_shard_work(scenario_attention_work(scenario))),
        load_(busiest_rank_factors(scenario)) {
    layout_.set_cp_ulysses(shape_.cp_ulysses);
  }

  // `layer`: the model layer whose expert load applies (-1: none).
  PassTimes times(std::vector<model::BlockOp> forward, int layer = -1) const {
    const auto l = static_cast<std::size_t>(layer);
    const bool loaded = layer >= 0 && l < load_.compute.size();
    for (auto& op : forward) {
      if (!op.collective && op.cost.op_class == config::OpClass::Attention) op.cost.flops *= attention_scale_;
      if (!loaded) continue;
      if (!op.collective && op.cost.op_class == config::OpClass::GroupedMatmul) {  // as the builder's loaded_cost
        op.cost.flops *= load_.compute[l];
        op.cost.bytes = op.weight_bytes + (op.cost.bytes - op.weight_bytes) * load_.compute[l];
      }
      if (op.collective && op.expert_flow != 0) op.elements *= load_.receive[l];  // the busiest receiver's rows
    }
    if (hide_ep_) {
      forward.erase(std::remove_if(forward.begin(), forward.end(),
                                   [](const model::BlockOp& op) { return op.collective && op.phase == "ep_comm"; }),
                    forward.end());
    }
    return {timer_.ops_time_s(forward, 0),
            timer_.ops_time_s(model::backward_ops(forward, model::Pass::BackwardInput), 0),
            timer_.ops_time_s(model::backward_ops(forward, model::Pass::BackwardWeight), 0)};
  }
  PassTimes slot(const model::LayerSlot& slot) const {
    const int layer = slot.kind == model::SlotKind::Padding ? -1 : model::expert_load_layer(*scenario_.model, slot);
    return times(model::slot_forward(*scenario_.model, shape_, slot), layer);
  }
  PassTimes embedding() const { return times(model::embedding_forward(*scenario_.model, shape_)); }
  PassTimes head() const { return times(model::head_forward(*scenario_.model, shape_)); }

 private:
  const config::ScenarioConfig& scenario_;
  model::TrainingLayout layout_;
  model::TrainingShape shape_;
  BlockTimeEstimator timer_;
  bool hide_ep_;
  double attention_scale_;  // training.documents: the step's mean attention work (1 without; CP: slowest shard's)
  LayerLoadFactors load_;   // training.expert_load: per layer, the busiest EP rank's factors
};

// Per-stage time of one micro-batch for a cut (virtual stages as model::assign_layers gives them).
std::vector<double> stage_times(const PartTimer& timer, const std::vector<model::VirtualStage>& stages, int pp) {
  std::vector<double> out(static_cast<std::size_t>(pp), 0.0);
  for (const auto& vs : stages) {
    PassTimes t;
    if (vs.embedding) t += timer.embedding();
    for (const auto& slot : vs.slots) t += timer.slot(slot);
    if (vs.head) t += timer.head();
    out[static_cast<std::size_t>(vs.stage)] += t.total_s();
  }
  return out;
}

// The scenario's own cut in layers per pipeline position: its layers_per_virtual_stage, the cut of its padded
// slots when pp x vpp divides them, else the even split of the layers (earlier positions get the fewer).
std::vector<int> starting_cut(const config::ScenarioConfig& scenario, model::ChunkPlacement placement) {
  const auto& model = *scenario.model;
  const auto& p = scenario.parallel;
  const int positions = p.pp * p.vpp;
  if (!p.layers_per_virtual_stage.empty()) return p.layers_per_virtual_stage;
  std::vector<int> counts(static_cast<std::size_t>(positions), 0);
  if ((model.num_layers + model.mtp_layers + p.padding_layers) % positions == 0) {
    for (const auto& vs : model::assign_layers(model, p, placement)) {
      const int i = model::pipeline_position(placement, p.pp, vs.stage, vs.chunk);
      for (const auto& slot : vs.slots) counts[static_cast<std::size_t>(i)] += slot.kind == model::SlotKind::Layer;
    }
    return counts;
  }
  for (int i = 0; i < positions; ++i)
    counts[static_cast<std::size_t>(i)] = (i + 1) * model.num_layers / positions - i * model.num_layers / positions;
  return counts;
}

// The cut's score: makespan of the compact timeline, sum of squared stage times, largest position time (smaller is
// better, in that order).
using Score = std::tuple<double, double, double>;

class CutSearch {
 public:
  CutSearch(std::vector<PassTimes> layer, std::vector<PassTimes> extra, model::ChunkPlacement placement, int pp,
            const CompactTimeline& timeline)
      : layer_(std::move(layer)), extra_(std::move(extra)), placement_(placement), pp_(pp), timeline_(timeline) {
    for (std::size_t i = 0; i < extra_.size(); ++i)
      stage_of_.push_back(model::at_pipeline_position(placement, pp, static_cast<int>(i)).stage);
  }

  // Steepest descent from `start` (layers per position): each round applies the best single move of one layer from
  // one position to another (the layers between them shift by one position); stops when no move improves the score.
  // `admissible` (optional) vets a cut that would improve the score (the memory guard).
  std::vector<int> run(std::vector<int> counts,
                       const std::function<bool(const std::vector<int>&)>& admissible = {}) const {
    Score best = score(counts);
    for (;;) {
      std::size_t best_from = 0, best_to = 0;
      bool found = false;
      for (std::size_t from = 0; from < counts.size(); ++from) {
        if (counts[from] == 0) continue;
        for (std::size_t to = 0; to < counts.size(); ++to) {
          if (to == from) continue;
          --counts[from];
          ++counts[to];
          const Score s = score(counts);
          const bool better = s < best && (!admissible || admissible(counts));
          ++counts[from];
          --counts[to];
          if (better) {
            best = s;
            best_from = from;
            best_to = to;
            found = true;
          }
        }
      }
      if (!found) return counts;
      --counts[best_from];
      ++counts[best_to];
    }
  }

  double makespan_s(const std::vector<int>& counts) const { return std::get<0>(score(counts)); }

 private:
  Score score(const std::vector<int>& counts) const {
    std::vector<PassTimes> position(extra_.size());
    std::vector<double> stage(static_cast<std::size_t>(pp_), 0.0);
    double worst_position = 0.0;
    std::size_t layer = 0;
    for (std::size_t i = 0; i < position.size(); ++i) {
      position[i] = extra_[i];
      for (int k = 0; k < counts[i]; ++k) position[i] += layer_[layer++];
      stage[static_cast<std::size_t>(stage_of_[i])] += position[i].total_s();
      worst_position = std::max(worst_position, position[i].total_s());
    }
    double squares = 0.0;
    for (double t : stage) squares += t * t;
    const auto run = timeline_.run([&](int stage, const PipelineTask& task) {
      const PassTimes& t =
          position[static_cast<std::size_t>(model::pipeline_position(placement_, pp_, stage, task.chunk))];
      if (task.forward) return t.forward_s;
      if (task.part == BackwardPart::Weight) return t.weight_s;
      return t.input_s + (task.part == BackwardPart::Whole ? t.weight_s : 0.0);
    });
    return {run.makespan_s, squares, worst_position};
  }

  std::vector<PassTimes> layer_, extra_;
  model::ChunkPlacement placement_;
  int pp_;
  std::vector<int> stage_of_;
  const CompactTimeline& timeline_;
};

}  // namespace

void check_stage_balance_params(config::ObjectReader& params) {
  params.finish();
}

void check_stage_balance_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                config::IssueCollector& issues) {
  const auto name = config::pointer_child(spec.pointer, "name");
  if (scenario.type != config::ScenarioType::Training || !scenario.training || !scenario.model) {
    issues.error(name, "stage_balance cuts a training pipeline: it needs a training scenario");
    return;
  }
  const auto& p = scenario.parallel;
  if (p.pp < 2)
    issues.error(name, "stage_balance needs a pipeline (parallel.pp >= 2, got " + std::to_string(p.pp) + ")");
  if (!scenario.topology.device.has_peak(scenario.training->dtype) ||
      scenario.topology.device.memory_bandwidth_bytes_per_s.value <= 0.0)
    issues.error(name,
                 "stage_balance times ops with the roofline: the device needs a peak for the training dtype and "
                 "a memory bandwidth");
}

StageBalance balance_stages(const config::ScenarioConfig& scenario) {
  const auto& model = *scenario.model;
  const auto& p = scenario.parallel;
  const auto schedule = make_pipeline_schedule(scenario);
  const auto placement = schedule->placement();
  const int micro_batches = config::micro_batches_per_step(scenario);
  const PartTimer timer(scenario);
  const int positions = p.pp * p.vpp;
  std::vector<PassTimes> layer;
  for (int l = 0; l < model.num_layers; ++l) layer.push_back(timer.slot({model::SlotKind::Layer, l}));
  std::vector<PassTimes> extra(static_cast<std::size_t>(positions));
  extra.front() += timer.embedding();
  extra.back() += timer.head();
  for (int m = 0; m < model.mtp_layers; ++m) extra.back() += timer.slot({model::SlotKind::Mtp, m});
  auto orders = stage_orders(*schedule, scenario);
  std::vector<std::vector<int>> in_flight(static_cast<std::size_t>(p.pp));  // per stage and chunk, at the peak
  for (int s = 0; s < p.pp; ++s)
    peak_in_flight(orders[static_cast<std::size_t>(s)], p.vpp, &in_flight[static_cast<std::size_t>(s)]);
  // the units the overlap strategy interleaves (strategy/overlap) run as one, as the step builder emits them
  const auto overlap = make_overlap_strategy(scenario);
  TaskGrouping grouping;
  if (overlap)
    grouping = [&](const std::vector<PipelineTask>& order, std::size_t i) { return overlap->group(order, i); };
  const CompactTimeline timeline(std::move(orders), placement, p.vpp, micro_batches, grouping);

  const CutSearch search(layer, extra, placement, p.pp, timeline);
  auto stages_of = [&](const std::vector<int>& counts) {  // the virtual stages of a cut
    config::ParallelLayout layout = p;
    layout.padding_layers = 0;
    layout.layers_per_virtual_stage = counts;
    return model::assign_layers(model, layout, placement);
  };
  auto with_cut = [&](const std::vector<int>& counts) { return stage_times(timer, stages_of(counts), p.pp); };
  StageBalance out;
  out.start_layers_per_position = starting_cut(scenario, placement);
  // Memory guard (without a memory strategy, whose plan adapts to the cut): no cut whose keep-everything peak exceeds
  // both the device memory and the starting cut's peak.
  std::function<bool(const std::vector<int>&)> fits;
  const bool memory_strategy = std::any_of(scenario.strategies.begin(), scenario.strategies.end(),
                                           [](const auto& spec) { return spec.name == kSelectiveRecomputeSwapName; });
  if (!memory_strategy) {
    const auto moe_comm = moe_comm_plan(scenario);
    const auto load = scenario_expert_loads(scenario).worst();
    // by value: the guard outlives this block (a reference to `load` here dangled: a crash with a skewed load)
    auto peak_bytes = [&, in_flight, moe_comm, load](const std::vector<int>& counts) {
      const auto stages = stages_of(counts);
      double peak = 0.0;
      for (int s = 0; s < p.pp; ++s) {
        peak = std::max(
            peak, model::stage_memory(scenario, stages, s, in_flight[static_cast<std::size_t>(s)], {}, moe_comm, load)
                      .breakdown.total());
      }
      return peak;
    };
    const double limit =
        std::max(scenario.topology.device.memory_bytes.value, peak_bytes(out.start_layers_per_position));
    fits = [peak_bytes, limit](const std::vector<int>& counts) { return peak_bytes(counts) <= limit; };
  }
  out.layers_per_position = search.run(out.start_layers_per_position, fits);
  out.start_stage_time_s = with_cut(out.start_layers_per_position);
  out.stage_time_s = with_cut(out.layers_per_position);
  out.start_estimate_s = search.makespan_s(out.start_layers_per_position);
  out.estimate_s = search.makespan_s(out.layers_per_position);
  return out;
}

void apply_stage_balance(config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name != kStageBalanceName) continue;
    scenario.parallel.layers_per_virtual_stage = balance_stages(scenario).layers_per_position;
    scenario.parallel.padding_layers = 0;
    return;
  }
}

}  // namespace moesim::strategy

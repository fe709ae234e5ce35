#include "serving/step_profile.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "serving/kv_capacity.hpp"
#include "strategy/inference_plan.hpp"

namespace moesim::serving {

using config::ArrivalKind;
using model::OpGraph;
using model::OpId;

namespace {

struct LengthBounds {
  int prompt_min = 1, prompt_max = 1, output_max = 1;
};

LengthBounds length_bounds(const config::ServingConfig& serving) {
  const auto& w = serving.workload;
  LengthBounds b;
  if (w.arrival.kind == ArrivalKind::Trace) {
    b.prompt_min = w.arrival.trace.front().prompt_tokens;
    b.prompt_max = b.output_max = 1;
    for (const auto& r : w.arrival.trace) {
      b.prompt_min = std::min(b.prompt_min, r.prompt_tokens);
      b.prompt_max = std::max(b.prompt_max, r.prompt_tokens);
      b.output_max = std::max(b.output_max, r.output_tokens);
    }
  } else {
    b.prompt_min = w.prompt_tokens.kind == config::LengthKind::Fixed ? w.prompt_tokens.value : w.prompt_tokens.min;
    b.prompt_max = w.prompt_tokens.upper_bound();
    b.output_max = w.output_tokens.upper_bound();
  }
  return b;
}

std::vector<int> doubling(int first, int last) {
  std::vector<int> grid;
  for (long long v = first; v < last; v *= 2) grid.push_back(static_cast<int>(v));
  grid.push_back(last);
  return grid;
}

std::vector<int> unique_sorted(std::vector<int> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// A copy of the scenario reduced to one instance running one static step.
config::ScenarioConfig step_scenario(const config::ScenarioConfig& base, config::InferencePhase phase, int batch,
                                     int length) {
  config::ScenarioConfig s = base;
  s.inference->phase = phase;
  s.inference->batch_size = batch;
  s.inference->input_len = length;
  return s;
}

// Appends `part` (ranks unchanged); its first op on every (rank, stream) waits for `after` when given.
void append(OpGraph& into, const OpGraph& part, OpId after) {
  const OpId base = static_cast<OpId>(into.ops.size());
  const int collective_base = static_cast<int>(into.collectives.size());
  into.collectives.insert(into.collectives.end(), part.collectives.begin(), part.collectives.end());
  std::map<std::pair<int, int>, bool> started;
  for (model::Op op : part.ops) {
    for (OpId& dep : op.deps) dep += base;
    if (op.collective >= 0) op.collective += collective_base;
    if (after >= 0 && !started[{op.rank, op.stream}]) {
      started[{op.rank, op.stream}] = true;
      op.deps.push_back(after);
    }
    into.ops.push_back(std::move(op));
  }
}

// A zero-time op on rank 0 that waits for the last op of every (rank, stream) in [first, end).
OpId add_barrier(OpGraph& graph, OpId first, const std::string& name) {
  std::map<std::pair<int, int>, OpId> last;
  for (OpId id = first; id < static_cast<OpId>(graph.ops.size()); ++id) {
    const auto& op = graph.ops[static_cast<std::size_t>(id)];
    last[{op.rank, op.stream}] = id;
  }
  model::Op barrier;
  barrier.name = name;
  barrier.phase = "profile";
  barrier.kind = model::OpKind::Delay;
  barrier.rank = 0;
  barrier.stream = 0;
  barrier.delay_s = 0.0;
  for (const auto& [key, id] : last) barrier.deps.push_back(id);
  return graph.add(std::move(barrier));
}

std::string cluster_fabric(const config::TopologyConfig& topology) {
  for (const auto& fabric : topology.fabrics) {
    if (fabric.scope == config::FabricScope::Cluster) return fabric.name;
  }
  throw std::invalid_argument(topology.file +
                              ": prefill/decode disaggregation moves the KV cache over the RDMA/RoCE plane, but "
                              "the topology has no cluster-scope fabric");
}

// One KV transfer of `tokens` tokens: every rank of the first attention group sends its KV shard to its peer in the
// decode instance (ranks instance_ranks + r), all at once, over the cluster fabric.
OpGraph transfer_graph(const config::ScenarioConfig& s, int instance_ranks, int tokens, const std::string& fabric) {
  OpGraph g;
  g.num_ranks = 2 * instance_ranks;
  const double bytes = kv_bytes_per_rank(s, tokens);
  for (int r = 0; r < s.parallel.tp; ++r) {
    model::Collective c;
    c.kind = model::CollectiveKind::SendRecv;
    c.ranks = {r, instance_ranks + r};
    c.dtype = config::Dtype::INT8;  // one byte per element: elements = bytes
    c.elements = bytes;
    c.fabric = fabric;
    g.add_collective_ops("kv_transfer", "kv_transfer", c, 1);
  }
  return g;
}

}  // namespace

ProfileGrids choose_profile_grids(const config::ScenarioConfig& scenario) {
  const auto& serving = *scenario.serving;
  const auto bounds = length_bounds(serving);
  const auto& given = serving.profile;
  const int dp = scenario.parallel.dp;
  ProfileGrids g;
  g.decode_batches = !given.decode_batches.empty() ? given.decode_batches : doubling(1, serving.scheduler.max_batch);
  const int context_max = bounds.prompt_max + bounds.output_max;
  g.decode_kv_lens = !given.decode_kv_lens.empty()
                         ? given.decode_kv_lens
                         : unique_sorted({bounds.prompt_min, (bounds.prompt_min + context_max) / 2, context_max});
  const int tokens_max = std::max(1, serving.scheduler.max_tokens_per_step / dp);
  g.prefill_lens =
      !given.prefill_tokens.empty() ? given.prefill_tokens : doubling(std::min(16, tokens_max), tokens_max);
  if (serving.disaggregation) g.transfer_tokens = unique_sorted({1, context_max / 2, context_max});
  return g;
}

ProfileGraph build_profile_graph(const config::ScenarioConfig& scenario, const ProfileGrids& grids) {
  ProfileGraph out;
  config::ScenarioConfig base = scenario;  // one instance, no serving block (the trace is not copied per sample)
  base.serving.reset();
  base.document = nlohmann::json::object();
  base.ranks = scenario.parallel.ranks();
  const int instance_ranks = base.ranks;
  const bool pd = scenario.serving->disaggregation.has_value();
  out.graph.num_ranks = pd ? 2 * instance_ranks : instance_ranks;
  out.topology = scenario.topology;
  const int per_node = out.topology.ranks_per_node();
  out.topology.nodes = (out.graph.num_ranks + per_node - 1) / per_node;

  OpId previous = -1;
  auto add_sample = [&](SampleKind kind, int batch, int length, const OpGraph& part) {
    ProfileSample sample{kind, batch, length, static_cast<OpId>(out.graph.ops.size()), 0};
    append(out.graph, part, previous);
    sample.barrier = add_barrier(out.graph, sample.first_op, "profile.barrier");
    previous = sample.barrier;
    out.samples.push_back(sample);
  };
  for (int batch : grids.decode_batches) {
    for (int kv : grids.decode_kv_lens) {
      add_sample(SampleKind::Decode, batch, kv,
                 strategy::build_inference_step(step_scenario(base, config::InferencePhase::Decode, batch, kv)));
    }
  }
  const int dp = scenario.parallel.dp;
  for (int length : grids.prefill_lens) {
    add_sample(SampleKind::Prefill, dp, length,
               strategy::build_inference_step(step_scenario(base, config::InferencePhase::Prefill, dp, length)));
  }
  if (pd) {
    out.transfer_fabric = cluster_fabric(scenario.topology);
    for (int tokens : grids.transfer_tokens) {
      add_sample(SampleKind::Transfer, 1, tokens, transfer_graph(base, instance_ranks, tokens, out.transfer_fabric));
    }
  }
  return out;
}

std::size_t append_extra_sample(ProfileGraph& profile, const model::OpGraph& part) {
  const OpId previous = profile.samples.empty() ? -1 : profile.samples.back().barrier;
  ProfileSample sample{SampleKind::Extra, 0, 0, static_cast<OpId>(profile.graph.ops.size()), 0};
  append(profile.graph, part, previous);
  sample.barrier = add_barrier(profile.graph, sample.first_op, "profile.barrier");
  profile.samples.push_back(sample);
  return profile.samples.size() - 1;
}

double extra_sample_s(const ProfileGraph& profile, const engine::SimulationResult& result, std::size_t index) {
  const auto& sample = profile.samples.at(index);
  const double start_s =
      index == 0 ? 0.0 : result.ops[static_cast<std::size_t>(profile.samples[index - 1].barrier)].end_s;
  return result.ops[static_cast<std::size_t>(sample.barrier)].end_s - start_s;
}

StepProfile read_step_profile(const ProfileGraph& profile, const engine::SimulationResult& result) {
  StepProfile p;
  const std::size_t classes = ProfiledStepCost::kClassNames().size();
  double start_s = 0.0;
  std::map<int, std::size_t> batch_index, kv_index;
  for (const auto& sample : profile.samples) {
    if (sample.kind == SampleKind::Extra) continue;
    const double end_s = result.ops[static_cast<std::size_t>(sample.barrier)].end_s;
    SampleCost cost;
    cost.time_s = end_s - start_s;
    cost.class_s.assign(classes, 0.0);
    for (OpId id = sample.first_op; id < sample.barrier; ++id) {
      const auto& op = profile.graph.ops[static_cast<std::size_t>(id)];
      if (op.rank != 0) continue;
      const auto& t = result.ops[static_cast<std::size_t>(id)];
      cost.class_s[ProfiledStepCost::class_index(op)] += t.end_s - t.start_s;
    }
    start_s = end_s;
    switch (sample.kind) {
      case SampleKind::Decode:
        if (!batch_index.count(sample.batch)) {
          batch_index[sample.batch] = p.decode_batches.size();
          p.decode_batches.push_back(sample.batch);
        }
        if (!kv_index.count(sample.length)) {
          kv_index[sample.length] = p.decode_kv_lens.size();
          p.decode_kv_lens.push_back(sample.length);
        }
        p.decode.push_back(cost);
        break;
      case SampleKind::Prefill: {
        const double length = sample.length;
        p.prefill_tokens.push_back(sample.batch * length);
        p.prefill_attention.push_back(sample.batch * length * length / 2.0);
        p.prefill.push_back(cost);
        break;
      }
      case SampleKind::Transfer:
        p.transfer_tokens.push_back(sample.length);
        p.transfer_s.push_back(cost.time_s);
        break;
      case SampleKind::Extra:
        break;
    }
  }
  return p;
}

}  // namespace moesim::serving

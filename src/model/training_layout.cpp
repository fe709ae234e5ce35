#include "model/training_layout.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moesim::model {

TrainingLayout::TrainingLayout(const config::ParallelLayout& parallel, int dp, int ranks_per_node)
    : tp_(parallel.tp),
      cp_(parallel.cp),
      dp_(dp),
      pp_(parallel.pp),
      ep_size_(parallel.expert_parallel_size()),
      etp_(parallel.expert_tp),
      stage_size_(parallel.tp * parallel.cp * dp),
      ranks_per_node_(ranks_per_node) {
  if (tp_ < 1 || cp_ < 1 || dp_ < 1 || pp_ < 1 || ep_size_ < 1 || etp_ < 1) {
    throw std::invalid_argument("training layout: every parallel size must be >= 1");
  }
  if (stage_size_ % (ep_size_ * etp_) != 0) {
    throw std::invalid_argument("training layout: expert-parallel size x expert_tp (" +
                                std::to_string(ep_size_ * etp_) + ") must divide tp x cp x dp (" +
                                std::to_string(stage_size_) + ")");
  }
}

int TrainingLayout::rank(const RankCoord& c) const {
  return c.tp + tp_ * (c.cp + cp_ * (c.dp + dp_ * c.pp));
}

RankCoord TrainingLayout::coord(int rank) const {
  RankCoord c;
  c.tp = rank % tp_;
  c.cp = (rank / tp_) % cp_;
  c.dp = (rank / (tp_ * cp_)) % dp_;
  c.pp = rank / stage_size_;
  return c;
}

std::vector<int> TrainingLayout::stage_ranks(int stage) const {
  std::vector<int> ranks;
  for (int i = 0; i < stage_size_; ++i) ranks.push_back(stage * stage_size_ + i);
  return ranks;
}

std::vector<int> TrainingLayout::tp_group(int rank) const {
  RankCoord c = coord(rank);
  std::vector<int> group;
  for (c.tp = 0; c.tp < tp_; ++c.tp) group.push_back(this->rank(c));
  return group;
}

std::vector<int> TrainingLayout::cp_group(int rank) const {
  RankCoord c = coord(rank);
  std::vector<int> group;
  for (c.cp = 0; c.cp < cp_; ++c.cp) group.push_back(this->rank(c));
  return group;
}

std::vector<int> TrainingLayout::cp_ulysses_group(int rank) const {
  RankCoord c = coord(rank);
  const int first = c.cp / cp_ulysses_ * cp_ulysses_;
  std::vector<int> group;
  for (c.cp = first; c.cp < first + cp_ulysses_; ++c.cp) group.push_back(this->rank(c));
  return group;
}

std::vector<int> TrainingLayout::cp_ring_group(int rank) const {
  RankCoord c = coord(rank);
  std::vector<int> group;
  for (c.cp = c.cp % cp_ulysses_; c.cp < cp_; c.cp += cp_ulysses_) group.push_back(this->rank(c));
  return group;
}

std::vector<int> TrainingLayout::dense_dp_group(int rank) const {
  RankCoord c = coord(rank);
  std::vector<int> group;
  for (c.dp = 0; c.dp < dp_; ++c.dp) {
    for (c.cp = 0; c.cp < cp_; ++c.cp) group.push_back(this->rank(c));
  }
  return group;
}

// Stage-local index i = etp_index + etp x (ep_index + ep_size x edp_index).
std::vector<int> TrainingLayout::ep_group(int rank) const {
  const int i = stage_index(rank);
  const int etp_index = i % etp_;
  const int edp_index = i / (etp_ * ep_size_);
  std::vector<int> group;
  for (int e = 0; e < ep_size_; ++e) group.push_back(stage_base(rank) + etp_index + etp_ * (e + ep_size_ * edp_index));
  return group;
}

std::vector<int> TrainingLayout::expert_tp_group(int rank) const {
  const int i = stage_index(rank);
  std::vector<int> group;
  for (int t = 0; t < etp_; ++t) group.push_back(stage_base(rank) + (i - i % etp_) + t);
  return group;
}

std::vector<int> TrainingLayout::expert_dp_group(int rank) const {
  const int i = stage_index(rank);
  const int within = i % (etp_ * ep_size_);
  std::vector<int> group;
  for (int d = 0; d < stage_size_ / (etp_ * ep_size_); ++d) {
    group.push_back(stage_base(rank) + within + d * etp_ * ep_size_);
  }
  return group;
}

std::vector<std::vector<int>> TrainingLayout::ep_group_by_node(int rank) const {
  if (ranks_per_node_ < 1) throw std::invalid_argument("training layout: node-split EP groups need the ranks per node");
  std::vector<int> node_ids;
  std::vector<std::vector<int>> nodes;
  for (int r : ep_group(rank)) {
    const int node = r / ranks_per_node_;
    const auto it = std::find(node_ids.begin(), node_ids.end(), node);
    if (it == node_ids.end()) {
      node_ids.push_back(node);
      nodes.push_back({r});
    } else {
      nodes[static_cast<std::size_t>(it - node_ids.begin())].push_back(r);
    }
  }
  for (const auto& members : nodes) {
    if (members.size() != nodes.front().size()) {
      throw std::invalid_argument(
          "the expert-parallel group of rank " + std::to_string(rank) + " spans " + std::to_string(nodes.size()) +
          " nodes holding different numbers of its members (node of rank " + std::to_string(nodes.front().front()) +
          ": " + std::to_string(nodes.front().size()) + ", node of rank " + std::to_string(members.front()) + ": " +
          std::to_string(members.size()) + ")");
    }
  }
  return nodes;
}

std::vector<int> TrainingLayout::ep_inner_group(int rank) const {
  for (auto& members : ep_group_by_node(rank)) {
    if (std::find(members.begin(), members.end(), rank) != members.end()) return members;
  }
  throw std::logic_error("training layout: rank missing from its own EP group");
}

std::vector<int> TrainingLayout::ep_outer_group(int rank) const {
  const auto nodes = ep_group_by_node(rank);
  std::size_t position = 0;
  for (const auto& members : nodes) {
    const auto it = std::find(members.begin(), members.end(), rank);
    if (it != members.end()) position = static_cast<std::size_t>(it - members.begin());
  }
  std::vector<int> group;
  for (const auto& members : nodes) group.push_back(members[position]);
  return group;
}

std::vector<std::vector<int>> TrainingLayout::stage_groups(int stage,
                                                           std::vector<int> (TrainingLayout::*group)(int) const) const {
  std::vector<std::vector<int>> groups;
  std::vector<char> seen(static_cast<std::size_t>(stage_size_), 0);
  for (int r : stage_ranks(stage)) {
    if (seen[static_cast<std::size_t>(stage_index(r))]) continue;
    auto members = (this->*group)(r);
    for (int m : members) seen[static_cast<std::size_t>(stage_index(m))] = 1;
    groups.push_back(std::move(members));
  }
  return groups;
}

int TrainingLayout::at_stage(int rank, int stage) const {
  return stage * stage_size_ + stage_index(rank);
}

int TrainingLayout::ep_span_replicas() const {
  const int replica = tp_ * cp_;
  const int group = ep_size_ * etp_;
  return group <= replica ? 1 : (group + replica - 1) / replica;
}

std::vector<int> layer_positions(const VirtualStage& vs) {
  std::vector<int> positions;
  int next = 0;
  for (const auto& slot : vs.slots) {
    positions.push_back(next);
    if (slot.kind != SlotKind::Padding) ++next;
  }
  return positions;
}

int pipeline_position(ChunkPlacement placement, int pp, int stage, int chunk) {
  if (placement == ChunkPlacement::VShape && chunk == 1) return 2 * pp - 1 - stage;
  return chunk * pp + stage;
}

StageChunk at_pipeline_position(ChunkPlacement placement, int pp, int position) {
  if (placement == ChunkPlacement::VShape && position >= pp) return {2 * pp - 1 - position, 1};
  return {position % pp, position / pp};
}

namespace {

// The virtual stages in storage order (chunk x pp + stage), each told its place: embedding at pipeline position 0,
// head at the last one.
std::vector<VirtualStage> empty_stages(const config::ParallelLayout& parallel, ChunkPlacement placement) {
  const int virtual_stages = parallel.pp * parallel.vpp;
  if (placement == ChunkPlacement::VShape && parallel.vpp != 2) {
    throw std::invalid_argument("the V-shaped chunk placement needs vpp = 2 (got " + std::to_string(parallel.vpp) +
                                ")");
  }
  std::vector<VirtualStage> stages(static_cast<std::size_t>(virtual_stages));
  for (int v = 0; v < virtual_stages; ++v) {
    auto& vs = stages[static_cast<std::size_t>(v)];
    vs.stage = v % parallel.pp;
    vs.chunk = v / parallel.pp;
    const int position = pipeline_position(placement, parallel.pp, vs.stage, vs.chunk);
    vs.embedding = position == 0;
    vs.head = position == virtual_stages - 1;
  }
  return stages;
}

VirtualStage& at_position(std::vector<VirtualStage>& stages, const config::ParallelLayout& parallel,
                          ChunkPlacement placement, int position) {
  const auto where = at_pipeline_position(placement, parallel.pp, position);
  return stages[static_cast<std::size_t>(where.chunk * parallel.pp + where.stage)];
}

// parallel.layers_per_virtual_stage: the given number of layers per pipeline position, MTP modules in the last one.
std::vector<VirtualStage> assign_layers_explicit(const config::ModelConfig& model,
                                                 const config::ParallelLayout& parallel, ChunkPlacement placement) {
  const auto& counts = parallel.layers_per_virtual_stage;
  const int virtual_stages = parallel.pp * parallel.vpp;
  int sum = 0;
  for (int n : counts) sum += n;
  if (static_cast<int>(counts.size()) != virtual_stages || sum != model.num_layers || parallel.padding_layers != 0) {
    throw std::invalid_argument("layers_per_virtual_stage needs pp x vpp = " + std::to_string(virtual_stages) +
                                " counts summing to the " + std::to_string(model.num_layers) +
                                " layers, and no padding layers");
  }
  auto stages = empty_stages(parallel, placement);
  int layer = 0;
  for (int v = 0; v < virtual_stages; ++v) {
    auto& vs = at_position(stages, parallel, placement, v);
    for (int i = 0; i < counts[static_cast<std::size_t>(v)]; ++i) vs.slots.push_back({SlotKind::Layer, layer++});
  }
  auto& last = at_position(stages, parallel, placement, virtual_stages - 1);
  for (int m = 0; m < model.mtp_layers; ++m) last.slots.push_back({SlotKind::Mtp, m});
  return stages;
}

}  // namespace

std::vector<VirtualStage> assign_layers(const config::ModelConfig& model, const config::ParallelLayout& parallel,
                                        ChunkPlacement placement) {
  if (!parallel.layers_per_virtual_stage.empty()) return assign_layers_explicit(model, parallel, placement);
  std::vector<LayerSlot> slots;
  const int front_padding = parallel.padding_layers / 2;
  for (int i = 0; i < front_padding; ++i) slots.push_back({SlotKind::Padding, i});
  for (int l = 0; l < model.num_layers; ++l) slots.push_back({SlotKind::Layer, l});
  for (int i = front_padding; i < parallel.padding_layers; ++i) slots.push_back({SlotKind::Padding, i});
  for (int m = 0; m < model.mtp_layers; ++m) slots.push_back({SlotKind::Mtp, m});
  const int virtual_stages = parallel.pp * parallel.vpp;
  if (virtual_stages < 1 || slots.size() % static_cast<std::size_t>(virtual_stages) != 0) {
    throw std::invalid_argument("pp x vpp = " + std::to_string(virtual_stages) + " must divide the " +
                                std::to_string(slots.size()) + " pipeline slots (layers + MTP + padding)");
  }
  const std::size_t per_stage = slots.size() / static_cast<std::size_t>(virtual_stages);
  auto stages = empty_stages(parallel, placement);
  for (int v = 0; v < virtual_stages; ++v) {
    const auto begin = slots.begin() + static_cast<std::ptrdiff_t>(per_stage * static_cast<std::size_t>(v));
    at_position(stages, parallel, placement, v).slots.assign(begin, begin + static_cast<std::ptrdiff_t>(per_stage));
  }
  return stages;
}

GroupOf group_of(GroupKind kind) {
  switch (kind) {
    case GroupKind::Tp:
      return &TrainingLayout::tp_group;
    case GroupKind::Cp:
      return &TrainingLayout::cp_group;
    case GroupKind::CpUlysses:
      return &TrainingLayout::cp_ulysses_group;
    case GroupKind::CpRing:
      return &TrainingLayout::cp_ring_group;
    case GroupKind::Ep:
      return &TrainingLayout::ep_group;
    case GroupKind::ExpertTp:
      return &TrainingLayout::expert_tp_group;
    case GroupKind::EpOuter:
      return &TrainingLayout::ep_outer_group;
    case GroupKind::EpInner:
      return &TrainingLayout::ep_inner_group;
  }
  return &TrainingLayout::tp_group;
}

}  // namespace moesim::model

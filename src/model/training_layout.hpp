#pragma once
// Where things sit in a training job: the Megatron rank order (tp fastest, then cp, then dp, then pp), the
// process groups each rank belongs to (TP, CP, DP, expert-parallel, expert-TP, expert-DP, pipeline neighbours) and
// the contiguous assignment of pipeline slots (layers, MTP modules, no-op padding) to virtual pipeline stages.
// Pure arithmetic; docs/training.md ("Rank mapping", "Layer-to-stage assignment").
#include <vector>

#include "config/model_config.hpp"
#include "config/scenario_config.hpp"

namespace moesim::model {

struct RankCoord {
  int tp = 0;
  int cp = 0;
  int dp = 0;
  int pp = 0;
};

// Rank arithmetic for `dp` data-parallel replicas (the scenario's dp, or fewer when the DP-symmetry reduction
// simulates a subset: docs/training.md). Expert groups are carved from the tp x cp x dp ranks of one stage as in
// Megatron-core: expert-TP fastest, then expert-parallel, then expert-data-parallel. `ranks_per_node` (0 =
// unknown) places rank r on node r / ranks_per_node; only the node-split EP groups need it.
class TrainingLayout {
 public:
  TrainingLayout(const config::ParallelLayout& parallel, int dp, int ranks_per_node = 0);

  int num_ranks() const { return stage_size_ * pp_; }
  int stage_size() const { return stage_size_; }  // tp x cp x dp
  int rank(const RankCoord& coord) const;
  RankCoord coord(int rank) const;
  std::vector<int> stage_ranks(int stage) const;

  std::vector<int> tp_group(int rank) const;
  std::vector<int> cp_group(int rank) const;
  // Hybrid CP (set_cp_ulysses): the consecutive cp_ulysses members of the rank's CP group holding it, and the members
  // cp_ulysses apart from it (its ring)
  std::vector<int> cp_ulysses_group(int rank) const;
  std::vector<int> cp_ring_group(int rank) const;
  void set_cp_ulysses(int degree) { cp_ulysses_ = degree; }
  std::vector<int> dense_dp_group(int rank) const;   // same tp index and stage: dp x cp ranks (ZeRO-1 of dense params)
  std::vector<int> ep_group(int rank) const;         // expert-parallel peers (ep, or ep x tp with tp_extend_ep)
  std::vector<int> expert_tp_group(int rank) const;  // ranks sharing the same experts' matrices
  std::vector<int> expert_dp_group(int rank) const;  // replicas of the same experts (ZeRO-1 of expert params)
  // Hierarchical EP (docs/training.md "MoE communication"): the rank's EP group split by node, nodes in order of
  // first appearance, members in group order. Inner group = the members on the rank's node; outer group = the
  // member at the rank's position on every node of the group. Throws std::invalid_argument when ranks_per_node is
  // unknown or the group's nodes hold different numbers of members.
  std::vector<std::vector<int>> ep_group_by_node(int rank) const;
  std::vector<int> ep_inner_group(int rank) const;
  std::vector<int> ep_outer_group(int rank) const;
  // Every group of a kind inside one stage, each once (for building collectives stage-wide).
  std::vector<std::vector<int>> stage_groups(int stage, std::vector<int> (TrainingLayout::*group)(int) const) const;

  // Pipeline neighbour of `rank` at another stage (same tp, cp, dp coordinates).
  int at_stage(int rank, int stage) const;

  int dp() const { return dp_; }
  int cp() const { return cp_; }
  int expert_parallel_size() const { return ep_size_; }
  int expert_tp() const { return etp_; }
  // DP replicas one expert-parallel group spans (1 when the group fits inside tp x cp).
  int ep_span_replicas() const;

 private:
  int tp_, cp_, dp_, pp_, ep_size_, etp_, stage_size_, ranks_per_node_;
  int cp_ulysses_ = 1;
  int stage_index(int rank) const { return rank % stage_size_; }
  int stage_base(int rank) const { return rank - stage_index(rank); }
};

// The process group an op of a layer block runs over. CpUlysses / CpRing: the two sub-groups of a CP group under
// hybrid CP (consecutive cp_ulysses ranks of the CP group; the ranks cp_ulysses apart).
enum class GroupKind { Tp, Cp, Ep, ExpertTp, EpOuter, EpInner, CpUlysses, CpRing };
// The TrainingLayout member that lists a rank's group of this kind.
using GroupOf = std::vector<int> (TrainingLayout::*)(int) const;
GroupOf group_of(GroupKind kind);

enum class SlotKind { Layer, Mtp, Padding };
struct LayerSlot {
  SlotKind kind = SlotKind::Layer;
  int index = 0;  // transformer layer (Layer) or MTP module (Mtp); unused for Padding
};

// The model layer whose expert load a slot's MoE ops follow: its own; an MTP module the last layer's; -1 for padding.
inline int expert_load_layer(const config::ModelConfig& model, const LayerSlot& slot) {
  return slot.kind == SlotKind::Layer ? slot.index : slot.kind == SlotKind::Mtp ? model.num_layers - 1 : -1;
}

// How a stage's model chunks sit along the pipeline. Interleaved (Megatron's virtual pipeline): chunk c of stage s
// is pipeline position c x pp + s, so activations run down the stages vpp times. VShape (DualPipeV, vpp 2): chunk 0
// of stage s is position s and chunk 1 is position 2 pp - 1 - s, so they run down the stages and back up; the
// embedding and the LM head both sit on stage 0 and the last stage hands chunk 0's output to its own chunk 1.
enum class ChunkPlacement { Interleaved, VShape };

struct StageChunk {
  int stage = 0;
  int chunk = 0;
};
int pipeline_position(ChunkPlacement placement, int pp, int stage, int chunk);
StageChunk at_pipeline_position(ChunkPlacement placement, int pp, int position);

// One virtual stage: chunk `chunk` of pipeline stage `stage`. Stored at index chunk x pp + stage whatever the
// placement (the index the memory model and the activation plan use); its place in the data flow is
// pipeline_position().
struct VirtualStage {
  int stage = 0;
  int chunk = 0;
  std::vector<LayerSlot> slots;
  bool embedding = false;  // pipeline position 0
  bool head = false;       // last pipeline position: final norm, LM head and loss
};

// Per slot of `vs`, its position among the virtual stage's layer slots (transformer layers and MTP modules, in
// order from 0; a padding slot gets the position of the next layer slot): what the activation plan's layer counts
// (ActivationPlan::at_slot) count.
std::vector<int> layer_positions(const VirtualStage& vs);

// Slots in order: half the padding layers (rounded down), the transformer layers, the rest of the padding, the
// MTP modules; cut contiguously, in pipeline-position order, into pp x vpp equal virtual stages. Indexed by
// chunk x pp + stage. With parallel.layers_per_virtual_stage: that many layers per pipeline position, in order, and
// the MTP modules in the last one. Throws std::invalid_argument when pp x vpp does not divide the slots, the counts
// do not fit the model (config validation reports both first) or VShape is asked for with vpp other than 2.
std::vector<VirtualStage> assign_layers(const config::ModelConfig& model, const config::ParallelLayout& parallel,
                                        ChunkPlacement placement = ChunkPlacement::Interleaved);

}  // namespace moesim::model

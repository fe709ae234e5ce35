#include "strategy/block_time_estimates.hpp"

#include <algorithm>

#include "model/roofline.hpp"

namespace moesim::strategy {

namespace {

// Volume one member moves per peer for a collective of `elements` (nccl-tests sizes, model/op_graph.hpp) over p
// members, and how many times it crosses (AllReduce = ReduceScatter + AllGather).
double per_peer_bytes(const model::BlockOp& op, double p) {
  const double bytes = op.elements * config::bytes_per_element(op.dtype);
  switch (op.kind) {
    case model::CollectiveKind::AllReduce:
      return 2.0 * bytes / p;
    case model::CollectiveKind::SendRecv:
    case model::CollectiveKind::Broadcast:
      return bytes;
    default:  // AllGather / ReduceScatter: a 1/p shard per peer; AllToAll(V): elements / p to each peer
      return bytes / p;
  }
}

}  // namespace

BlockTimeEstimator::BlockTimeEstimator(const config::ScenarioConfig& scenario, const model::TrainingLayout& layout)
    : scenario_(scenario), layout_(layout) {}

bool BlockTimeEstimator::can_time(config::Dtype dtype) const {
  return scenario_.topology.device.has_peak(dtype) && scenario_.topology.device.memory_bandwidth_bytes_per_s.value > 0.0;
}

double BlockTimeEstimator::collective_time_s(const model::BlockOp& op, int rank) const {
  const std::vector<int> group = (layout_.*model::group_of(op.group))(rank);
  if (group.size() < 2) return 0.0;
  const auto& topology = scenario_.topology;
  const int per_node = std::max(1, topology.ranks_per_node());
  const double chunk = per_peer_bytes(op, double(group.size()));
  // Peers in the member's node share its node fabric (a link per peer on a full mesh, one port otherwise); peers
  // elsewhere share its scale-out port. The slower side bounds the time.
  double local_s = 0.0, remote_s = 0.0;
  int local = 0, remote = 0;
  int local_peer = -1, remote_peer = -1;
  for (int member : group) {
    if (member == group.front()) continue;
    if (member / per_node == group.front() / per_node) {
      ++local;
      local_peer = member;
    } else {
      ++remote;
      remote_peer = member;
    }
  }
  if (local > 0) {
    if (const auto* f = topology.fabric_between(group.front(), local_peer);
        f && f->link_bandwidth_bytes_per_s.value > 0) {
      const double links = f->kind == config::FabricKind::FullMesh ? local : 1.0;
      local_s = local * chunk / (links * f->link_bandwidth_bytes_per_s.value) + f->latency_s.value;
    }
  }
  if (remote > 0) {
    if (const auto* f = topology.fabric_between(group.front(), remote_peer);
        f && f->link_bandwidth_bytes_per_s.value > 0) {
      remote_s = remote * chunk / f->link_bandwidth_bytes_per_s.value + f->latency_s.value;
    }
  }
  return std::max(local_s, remote_s);
}

double BlockTimeEstimator::ops_time_s(const std::vector<model::BlockOp>& ops, int rank) const {
  double total = 0.0;
  for (const auto& op : ops) {
    if (op.host_copy != model::HostCopy::None) continue;
    total += op.collective ? collective_time_s(op, rank) : model::op_time_s(scenario_.topology.device, op.cost);
  }
  return total;
}

}  // namespace moesim::strategy

#include "model/op_graph.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace moesim::model {

namespace {

constexpr CollectiveKind kAllKinds[] = {
    CollectiveKind::SendRecv,  CollectiveKind::Broadcast, CollectiveKind::AllReduce, CollectiveKind::ReduceScatter,
    CollectiveKind::AllGather, CollectiveKind::AllToAll,  CollectiveKind::AllToAllV};
constexpr CollectiveAlgorithm kAllAlgorithms[] = {CollectiveAlgorithm::Auto, CollectiveAlgorithm::Ring,
                                                  CollectiveAlgorithm::Direct, CollectiveAlgorithm::HalvingDoubling,
                                                  CollectiveAlgorithm::Hierarchical};

std::string op_label(const OpGraph& graph, OpId id) {
  return "op " + std::to_string(id) + " '" + graph.ops[static_cast<std::size_t>(id)].name + "'";
}

void validate_collective(const OpGraph& graph, std::size_t index) {
  const Collective& c = graph.collectives[index];
  const std::string label = "collective " + std::to_string(index) + " (" + to_string(c.kind) + ")";
  const std::size_t p = c.ranks.size();
  if (p == 0) throw std::invalid_argument(label + ": empty rank group");
  if (c.kind == CollectiveKind::SendRecv && p != 2) {
    throw std::invalid_argument(label + ": send/recv needs exactly 2 ranks, got " + std::to_string(p));
  }
  std::vector<char> seen(static_cast<std::size_t>(graph.num_ranks), 0);
  for (int rank : c.ranks) {
    if (rank < 0 || rank >= graph.num_ranks) {
      throw std::invalid_argument(label + ": rank " + std::to_string(rank) + " does not exist (graph has " +
                                  std::to_string(graph.num_ranks) + " ranks)");
    }
    if (seen[static_cast<std::size_t>(rank)]) {
      throw std::invalid_argument(label + ": rank " + std::to_string(rank) + " listed twice");
    }
    seen[static_cast<std::size_t>(rank)] = 1;
  }
  if (c.kind == CollectiveKind::Broadcast && (c.root < 0 || static_cast<std::size_t>(c.root) >= p)) {
    throw std::invalid_argument(label + ": root index " + std::to_string(c.root) + " outside the group");
  }
  if (c.kind == CollectiveKind::AllToAllV) {
    if (c.per_pair_elements.size() != p * p) {
      throw std::invalid_argument(label + ": per_pair_elements needs " + std::to_string(p * p) + " entries, got " +
                                  std::to_string(c.per_pair_elements.size()));
    }
    for (double e : c.per_pair_elements) {
      if (!(e >= 0.0)) throw std::invalid_argument(label + ": negative or NaN entry in per_pair_elements");
    }
  } else if (!c.per_pair_elements.empty()) {
    throw std::invalid_argument(label + ": per_pair_elements is only for alltoallv");
  }
  if (!(c.bytes() > 0.0)) throw std::invalid_argument(label + ": zero-size collective (elements must be > 0)");
}

}  // namespace

std::string to_string(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::SendRecv:
      return "send_recv";
    case CollectiveKind::Broadcast:
      return "broadcast";
    case CollectiveKind::AllReduce:
      return "all_reduce";
    case CollectiveKind::ReduceScatter:
      return "reduce_scatter";
    case CollectiveKind::AllGather:
      return "all_gather";
    case CollectiveKind::AllToAll:
      return "all_to_all";
    case CollectiveKind::AllToAllV:
      return "all_to_all_v";
  }
  return "?";
}

std::string to_string(CollectiveAlgorithm algorithm) {
  switch (algorithm) {
    case CollectiveAlgorithm::Auto:
      return "auto";
    case CollectiveAlgorithm::Ring:
      return "ring";
    case CollectiveAlgorithm::Direct:
      return "direct";
    case CollectiveAlgorithm::HalvingDoubling:
      return "halving_doubling";
    case CollectiveAlgorithm::Hierarchical:
      return "hierarchical";
  }
  return "?";
}

bool parse_collective_kind(const std::string& text, CollectiveKind& out) {
  for (CollectiveKind kind : kAllKinds) {
    if (to_string(kind) == text) {
      out = kind;
      return true;
    }
  }
  return false;
}

bool parse_collective_algorithm(const std::string& text, CollectiveAlgorithm& out) {
  for (CollectiveAlgorithm algorithm : kAllAlgorithms) {
    if (to_string(algorithm) == text) {
      out = algorithm;
      return true;
    }
  }
  return false;
}

std::vector<std::string> collective_kind_names() {
  std::vector<std::string> names;
  for (CollectiveKind kind : kAllKinds) names.push_back(to_string(kind));
  return names;
}

std::vector<std::string> collective_algorithm_names() {
  std::vector<std::string> names;
  for (CollectiveAlgorithm algorithm : kAllAlgorithms) names.push_back(to_string(algorithm));
  return names;
}

double Collective::bytes() const {
  if (kind == CollectiveKind::AllToAllV) {
    double total = 0.0;
    for (double e : per_pair_elements) total += e;
    return total * config::bytes_per_element(dtype);
  }
  return elements * config::bytes_per_element(dtype);
}

OpId OpGraph::add(Op op) {
  ops.push_back(std::move(op));
  return static_cast<OpId>(ops.size() - 1);
}

int OpGraph::add_collective(Collective collective) {
  collectives.push_back(std::move(collective));
  return static_cast<int>(collectives.size() - 1);
}

std::vector<OpId> OpGraph::add_collective_ops(const std::string& name, const std::string& phase, Collective collective,
                                              int stream, const std::vector<std::vector<OpId>>& deps_per_member) {
  if (!deps_per_member.empty() && deps_per_member.size() != collective.ranks.size()) {
    throw std::invalid_argument("add_collective_ops '" + name + "': deps_per_member has " +
                                std::to_string(deps_per_member.size()) + " entries for " +
                                std::to_string(collective.ranks.size()) + " members");
  }
  const std::vector<int> ranks = collective.ranks;
  const int index = add_collective(std::move(collective));
  std::vector<OpId> ids;
  ids.reserve(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    Op op;
    op.name = name;
    op.phase = phase;
    op.kind = OpKind::Collective;
    op.rank = ranks[i];
    op.stream = stream;
    op.collective = index;
    if (!deps_per_member.empty()) op.deps = deps_per_member[i];
    ids.push_back(add(std::move(op)));
  }
  return ids;
}

void validate(const OpGraph& graph) {
  if (graph.num_ranks <= 0) throw std::invalid_argument("op graph: num_ranks must be > 0");
  std::vector<std::vector<int>> members_seen(graph.collectives.size());
  for (std::size_t i = 0; i < graph.ops.size(); ++i) {
    const Op& op = graph.ops[i];
    const OpId id = static_cast<OpId>(i);
    if (op.rank < 0 || op.rank >= graph.num_ranks) {
      throw std::invalid_argument(op_label(graph, id) + ": rank " + std::to_string(op.rank) +
                                  " does not exist (graph has " + std::to_string(graph.num_ranks) + " ranks)");
    }
    if (op.stream < 0) throw std::invalid_argument(op_label(graph, id) + ": negative stream");
    for (OpId dep : op.deps) {
      if (dep < 0 || dep >= id) {
        throw std::invalid_argument(op_label(graph, id) + ": dependency " + std::to_string(dep) +
                                    " is not an earlier op");
      }
    }
    switch (op.kind) {
      case OpKind::Compute:
        if (!(op.compute.flops >= 0.0) || !(op.compute.bytes >= 0.0)) {
          throw std::invalid_argument(op_label(graph, id) + ": negative flops or bytes");
        }
        break;
      case OpKind::Delay:
        if (!(op.delay_s >= 0.0)) throw std::invalid_argument(op_label(graph, id) + ": negative delay");
        break;
      case OpKind::Collective:
        if (op.collective < 0 || static_cast<std::size_t>(op.collective) >= graph.collectives.size()) {
          throw std::invalid_argument(op_label(graph, id) + ": collective index " + std::to_string(op.collective) +
                                      " out of range");
        }
        members_seen[static_cast<std::size_t>(op.collective)].push_back(op.rank);
        break;
    }
  }
  for (std::size_t c = 0; c < graph.collectives.size(); ++c) {
    validate_collective(graph, c);
    std::vector<int> expected = graph.collectives[c].ranks;
    std::vector<int>& seen = members_seen[c];
    std::sort(expected.begin(), expected.end());
    std::sort(seen.begin(), seen.end());
    if (seen != expected) {
      throw std::invalid_argument("collective " + std::to_string(c) + " (" + to_string(graph.collectives[c].kind) +
                                  "): needs exactly one op per member rank; found " + std::to_string(seen.size()) +
                                  " ops for " + std::to_string(expected.size()) + " members");
    }
  }
}

}  // namespace moesim::model

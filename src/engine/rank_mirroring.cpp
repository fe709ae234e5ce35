#include "engine/rank_mirroring.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace moesim::engine {

using model::OpId;

namespace {

std::uint64_t bits(double x) {
  std::uint64_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

bool same_cost(const model::ComputeCost& a, const model::ComputeCost& b) {
  return a.op_class == b.op_class && a.dtype == b.dtype && bits(a.flops) == bits(b.flops) &&
         bits(a.bytes) == bits(b.bytes) && a.launched == b.launched;
}

bool same_shape(const model::Collective& a, const model::Collective& b) {
  return a.kind == b.kind && a.algorithm == b.algorithm && a.dtype == b.dtype && bits(a.elements) == bits(b.elements) &&
         a.fabric == b.fabric && a.ranks.size() == b.ranks.size() &&
         a.per_pair_elements.size() == b.per_pair_elements.size();
}

// Every (rank, stream) op list, and each op's list and position in it.
struct StreamLists {
  std::vector<std::vector<OpId>> lists;
  std::vector<std::pair<int, int>> key;  // per list: (rank, stream)
  std::unordered_map<std::uint64_t, int> index;
  std::vector<int> list_of;
  std::vector<int> position;

  static std::uint64_t code(int rank, int stream) {
    return (static_cast<std::uint64_t>(rank) << 32) | static_cast<std::uint32_t>(stream);
  }
  explicit StreamLists(const model::OpGraph& graph) : list_of(graph.ops.size()), position(graph.ops.size()) {
    for (std::size_t i = 0; i < graph.ops.size(); ++i) {
      const model::Op& op = graph.ops[i];
      auto [it, inserted] = index.emplace(code(op.rank, op.stream), static_cast<int>(lists.size()));
      if (inserted) {
        lists.emplace_back();
        key.emplace_back(op.rank, op.stream);
      }
      auto& list = lists[static_cast<std::size_t>(it->second)];
      list_of[i] = it->second;
      position[i] = static_cast<int>(list.size());
      list.push_back(static_cast<OpId>(i));
    }
  }
  int find(int rank, int stream) const {
    auto it = index.find(code(rank, stream));
    return it == index.end() ? -1 : it->second;
  }
};

}  // namespace

void RankMirror::disable(std::string why) {
  period = 0;
  node_size = 0;
  refusal = std::move(why);
  source.clear();
  collective_class.clear();
  sigma_member.clear();
}

namespace {

struct Shift {
  int period;  // P
  int d;
  int sigma(int r) const { return shifted_rank(r, period, d); }
  bool leader(int r) const { return r % period < d; }
  std::string text(int k) const {
    return period == k ? "shift " + std::to_string(d)
                       : "block shift " + std::to_string(d / k) + " of " + std::to_string(period / k) + " nodes";
  }
};

// The mirror under the shift, or an inactive one with the reason.
RankMirror try_shift(const model::OpGraph& graph, const StreamLists& s, int k, Shift shift) {
  RankMirror m;
  auto refuse = [&m](const std::string& why) {
    m.disable(why);
    return m;
  };
  auto sigma_rank = [shift](int r) { return shift.sigma(r); };

  // The image list of every list, and sigma of every op (same stream, same position, next local index).
  std::vector<int> image(s.lists.size());
  for (std::size_t l = 0; l < s.lists.size(); ++l) {
    const auto [rank, stream] = s.key[l];
    image[l] = s.find(sigma_rank(rank), stream);
    if (image[l] < 0 || s.lists[static_cast<std::size_t>(image[l])].size() != s.lists[l].size()) {
      return refuse("rank " + std::to_string(rank) + " stream " + std::to_string(stream) +
                    " has no counterpart of the same length on rank " + std::to_string(sigma_rank(rank)));
    }
  }
  const std::size_t n = graph.ops.size();
  std::vector<OpId> sigma(n);
  for (std::size_t i = 0; i < n; ++i) {
    sigma[i] = s.lists[static_cast<std::size_t>(image[static_cast<std::size_t>(s.list_of[i])])]
                      [static_cast<std::size_t>(s.position[i])];
  }

  std::vector<int> sigma_collective(graph.collectives.size(), -1);
  for (std::size_t i = 0; i < n; ++i) {
    const model::Op& a = graph.ops[i];
    const model::Op& b = graph.ops[static_cast<std::size_t>(sigma[i])];
    // The phase too: metrics give a mirrored rank its leader's per-phase figures.
    bool same =
        a.kind == b.kind && a.deps.size() == b.deps.size() && bits(a.delay_s) == bits(b.delay_s) && a.phase == b.phase;
    if (same && a.kind == model::OpKind::Compute) same = same_cost(a.compute, b.compute);
    for (std::size_t d = 0; same && d < a.deps.size(); ++d) {
      same = sigma[static_cast<std::size_t>(a.deps[d])] == b.deps[d];
    }
    if (same && a.kind == model::OpKind::Collective) {
      int& image_of = sigma_collective[static_cast<std::size_t>(a.collective)];
      if (image_of < 0) image_of = b.collective;
      same = image_of == b.collective;
    }
    if (!same) {
      return refuse("op " + std::to_string(i) + " '" + a.name + "' on rank " + std::to_string(a.rank) +
                    " differs from its counterpart on rank " + std::to_string(b.rank));
    }
  }

  m.collective_class.resize(graph.collectives.size());
  m.sigma_member.resize(graph.collectives.size());
  std::vector<int> position_in(static_cast<std::size_t>(graph.num_ranks), -1);
  for (std::size_t c = 0; c < graph.collectives.size(); ++c) {
    const model::Collective& a = graph.collectives[c];
    const model::Collective& b = graph.collectives[static_cast<std::size_t>(sigma_collective[c])];
    const std::string name = "collective " + std::to_string(c) + " (" + model::to_string(a.kind) + ")";
    if (!same_shape(a, b)) return refuse(name + " differs from its image");
    const std::size_t p = a.ranks.size();
    if (sigma_collective[c] == static_cast<int>(c)) {  // Closed: sigma permutes its members
      if (a.kind == model::CollectiveKind::Broadcast || a.kind == model::CollectiveKind::SendRecv) {
        return refuse(name + " has a root that the shift moves");
      }
      for (std::size_t i = 0; i < p; ++i) position_in[static_cast<std::size_t>(a.ranks[i])] = static_cast<int>(i);
      auto& pi = m.sigma_member[c];
      pi.resize(p);
      bool closed = true;
      for (std::size_t i = 0; i < p && closed; ++i) {
        pi[i] = position_in[static_cast<std::size_t>(sigma_rank(a.ranks[i]))];
        closed = pi[i] >= 0;
      }
      for (std::size_t i = 0; i < p && closed && !a.per_pair_elements.empty(); ++i) {
        for (std::size_t j = 0; j < p && closed; ++j) {
          closed = bits(a.per_pair_elements[static_cast<std::size_t>(pi[i]) * p + static_cast<std::size_t>(pi[j])]) ==
                   bits(a.per_pair_elements[i * p + j]);
        }
      }
      for (int r : a.ranks) position_in[static_cast<std::size_t>(r)] = -1;
      if (!closed) return refuse(name + ": its sizes are not invariant under the shift");
      m.collective_class[c] = MirrorClass::Closed;
      continue;
    }
    if (a.root != b.root || a.per_pair_elements != b.per_pair_elements) {
      return refuse(name + " differs from its image (root or per-pair sizes)");
    }
    bool shifted = true;
    for (std::size_t i = 0; i < p && shifted; ++i) {
      shifted = b.ranks[i] == sigma_rank(a.ranks[i]) && shift.leader(a.ranks[i]) == shift.leader(a.ranks[0]);
    }
    if (!shifted) return refuse(name + " mixes leaders and mirrored ranks without mapping onto itself");
    m.collective_class[c] = MirrorClass::Shifted;
  }

  // Each op of rank r takes the timing of the op at its position on r's leader.
  m.period = shift.period;
  m.shift = shift.d;
  m.node_size = k;
  m.source.assign(n, -1);
  for (std::size_t l = 0; l < s.lists.size(); ++l) {
    const auto [rank, stream] = s.key[l];
    if (shift.leader(rank)) continue;
    const auto& leader = s.lists[static_cast<std::size_t>(s.find(m.leader_of(rank), stream))];
    const auto& own = s.lists[l];
    for (std::size_t j = 0; j < own.size(); ++j) m.source[static_cast<std::size_t>(own[j])] = leader[j];
  }
  // A leader's dependency on a mirrored op becomes one on its source; it must not be a later op of its own stream.
  for (std::size_t i = 0; i < n; ++i) {
    if (!shift.leader(graph.ops[i].rank)) continue;
    for (OpId dep : graph.ops[i].deps) {
      const OpId e = m.source[static_cast<std::size_t>(dep)] >= 0 ? m.source[static_cast<std::size_t>(dep)] : dep;
      if (s.list_of[static_cast<std::size_t>(e)] == s.list_of[i] &&
          s.position[static_cast<std::size_t>(e)] >= s.position[i]) {
        return refuse("op " + std::to_string(i) + " would wait for a later op of its own stream");
      }
    }
  }
  return m;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

// Per rank, a hash of its ops in order: what try_shift compares except the dependencies and collective identities.
// Equal graphs under sigma give equal signatures on r and sigma(r); the converse is checked in full.
std::vector<std::uint64_t> rank_signatures(const model::OpGraph& graph) {
  std::vector<std::uint64_t> h(static_cast<std::size_t>(graph.num_ranks), 0);
  for (const model::Op& op : graph.ops) {
    std::uint64_t& x = h[static_cast<std::size_t>(op.rank)];
    x = mix(x, static_cast<std::uint64_t>(op.stream) << 8 | static_cast<std::uint64_t>(op.kind));
    x = mix(x, reinterpret_cast<std::uintptr_t>(&op.phase.str()));
    x = mix(x, op.deps.size());
    if (op.kind == model::OpKind::Compute) {
      x = mix(x, static_cast<std::uint64_t>(op.compute.op_class) << 16 |
                     static_cast<std::uint64_t>(op.compute.dtype) << 1 | (op.compute.launched ? 1U : 0U));
      x = mix(mix(x, bits(op.compute.flops)), bits(op.compute.bytes));
    } else if (op.kind == model::OpKind::Delay) {
      x = mix(x, bits(op.delay_s));
    } else {
      const model::Collective& c = graph.collectives[static_cast<std::size_t>(op.collective)];
      x = mix(x, static_cast<std::uint64_t>(c.kind) << 16 | static_cast<std::uint64_t>(c.algorithm) << 8 |
                     static_cast<std::uint64_t>(c.dtype));
      x = mix(mix(x, bits(c.elements)), c.ranks.size());
    }
  }
  return h;
}

bool signatures_agree(const std::vector<std::uint64_t>& h, Shift shift) {
  for (std::size_t r = 0; r < h.size(); ++r) {
    if (h[r] != h[static_cast<std::size_t>(shift.sigma(static_cast<int>(r)))]) return false;
  }
  return true;
}

// Local shifts (d | k, d < k) in increasing d, then block shifts (P and d multiples of k, P | ranks, d | P, d < P)
// in increasing d / P, then P.
std::vector<Shift> candidate_shifts(int ranks, int k) {
  std::vector<Shift> local, block;
  for (int d = 1; d < k; ++d) {
    if (k % d == 0) local.push_back({k, d});
  }
  for (int period = 2 * k; period <= ranks; period += k) {
    if (ranks % period != 0) continue;
    for (int d = k; d < period; d += k) {
      if (period % d == 0) block.push_back({period, d});
    }
  }
  std::stable_sort(block.begin(), block.end(), [](const Shift& a, const Shift& b) {
    return static_cast<long long>(a.d) * b.period < static_cast<long long>(b.d) * a.period;
  });
  local.insert(local.end(), block.begin(), block.end());
  return local;
}

}  // namespace

RankMirror find_rank_mirror(const model::OpGraph& graph, int k, const MirrorAcceptor& accept) {
  RankMirror m;
  if (k < 2) {
    m.disable("one rank per node");
  } else if (graph.num_ranks < 2 * k || graph.num_ranks % k != 0) {
    m.disable("the graph does not fill two or more nodes");
  } else {
    const StreamLists s(graph);
    const std::vector<std::uint64_t> signature = rank_signatures(graph);
    std::string reasons;
    constexpr int kMaxFullBlockChecks = 3;
    int block_checks = 0;
    bool block_signatures_failed = false;
    for (const Shift& shift : candidate_shifts(graph.num_ranks, k)) {
      const bool block = shift.period > k;
      if (!signatures_agree(signature, shift)) {
        if (!block) {
          // Name the first op that differs, as the full check would.
          m = try_shift(graph, s, k, shift);
          if (m.active()) return m;  // not reached: equal graphs have equal signatures
          reasons += (reasons.empty() ? "" : "; ") + shift.text(k) + ": " + m.refusal;
        } else {
          block_signatures_failed = true;
        }
        continue;
      }
      if (block && ++block_checks > kMaxFullBlockChecks) break;
      m = try_shift(graph, s, k, shift);
      if (m.active()) {
        if (!accept) return m;
        std::string why = accept(m);
        if (why.empty()) return m;
        m.disable(std::move(why));
      }
      reasons += (reasons.empty() ? "" : "; ") + shift.text(k) + ": " + m.refusal;
    }
    if (block_signatures_failed)
      reasons += (reasons.empty() ? "" : "; ") + std::string("other block shifts: ranks differ");
    m.disable(reasons);
  }
  return m;
}

}  // namespace moesim::engine

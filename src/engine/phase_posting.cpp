#include "engine/phase_posting.hpp"

#include <algorithm>
#include <cstring>

#include "engine/mirror_flows.hpp"

namespace moesim::engine {

namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  return (h ^ v) * 0x100000001b3ULL;
}

std::uint64_t bits(double x) {
  std::uint64_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

}  // namespace

std::uint64_t collective_hash(const model::Collective& c) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  h = mix(h, static_cast<std::uint64_t>(c.kind));
  h = mix(h, static_cast<std::uint64_t>(c.algorithm));
  h = mix(h, static_cast<std::uint64_t>(c.dtype));
  h = mix(h, static_cast<std::uint64_t>(c.root));
  h = mix(h, bits(c.elements));
  for (int r : c.ranks) h = mix(h, static_cast<std::uint64_t>(r));
  for (double e : c.per_pair_elements) h = mix(h, bits(e));
  for (char ch : c.fabric) h = mix(h, static_cast<std::uint64_t>(ch));
  return h;
}

bool same_collective(const model::Collective& a, const model::Collective& b) {
  return a.kind == b.kind && a.algorithm == b.algorithm && a.dtype == b.dtype && a.root == b.root &&
         bits(a.elements) == bits(b.elements) && a.ranks == b.ranks && a.per_pair_elements == b.per_pair_elements &&
         a.fabric == b.fabric;
}

void index_phase(const CollectivePhase& phase, const std::vector<char>& skip, const std::vector<int>& receivers, int p,
                 std::vector<int>& offsets, std::vector<int>& order) {
  // Pairwise-round order: flow s->d has round (d - s) mod p for both ends; sends before receives within a round.
  struct Entry {
    int member, round, code;
  };
  std::vector<Entry> entries;
  entries.reserve(phase.flows.size() * 2);
  for (std::size_t f = 0; f < phase.flows.size(); ++f) {
    if (skip[f] || (!receivers.empty() && receivers[f] == kNotSimulated)) continue;
    const PlannedFlow& flow = phase.flows[f];
    const int to = receivers.empty() ? flow.dst : receivers[f];
    const int round = (((to < 0 ? flow.dst : to) - flow.src) % p + p) % p;
    entries.push_back({flow.src, round, static_cast<int>(f) * 2});
    if (to >= 0) entries.push_back({to, round, static_cast<int>(f) * 2 + 1});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.member != b.member ? a.member < b.member : a.round != b.round ? a.round < b.round : a.code < b.code;
  });
  offsets.assign(static_cast<std::size_t>(p) + 1, 0);
  order.clear();
  order.reserve(entries.size());
  for (const Entry& e : entries) {
    ++offsets[static_cast<std::size_t>(e.member) + 1];
    order.push_back(e.code);
  }
  for (int m = 0; m < p; ++m) offsets[static_cast<std::size_t>(m) + 1] += offsets[static_cast<std::size_t>(m)];
}

}  // namespace moesim::engine

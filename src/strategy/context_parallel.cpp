#include "strategy/context_parallel.hpp"

#include "strategy/context_parallel_hybrid.hpp"
#include "strategy/context_parallel_kv_allgather.hpp"
#include "strategy/context_parallel_ring.hpp"
#include "strategy/context_parallel_ulysses.hpp"

namespace moesim::strategy {

model::CpAlgorithm cp_algorithm(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kRingAttentionName) return model::CpAlgorithm::Ring;
    if (spec.name == kUlyssesName) return model::CpAlgorithm::Ulysses;
    if (spec.name == kHybridCpName) return model::CpAlgorithm::Hybrid;
  }
  return model::CpAlgorithm::KvAllGather;
}

int cp_query_shards(const config::ScenarioConfig& scenario) {
  const int cp = scenario.parallel.cp;
  if (cp <= 1) return 1;
  switch (cp_algorithm(scenario)) {
    case model::CpAlgorithm::KvAllGather:
    case model::CpAlgorithm::Ring:
      return cp;
    case model::CpAlgorithm::Hybrid:
      return cp / cp_ulysses_degree(scenario);
    case model::CpAlgorithm::Ulysses:
      break;
  }
  return 1;
}

void check_context_parallel_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  // Documents under the default KV AllGather: their masked pairs are counted on its causal load-balanced shards
  // (two mirrored half-chunks per rank), as Ring Attention and hybrid CP check for themselves.
  if (scenario.training && scenario.training->documents && scenario.parallel.cp > 1 &&
      cp_algorithm(scenario) == model::CpAlgorithm::KvAllGather &&
      scenario.training->seq_len % (2 * scenario.parallel.cp) != 0) {
    issues.error("/training/seq_len",
                 "document-masked attention under KV AllGather context parallelism counts each "
                 "rank's pairs on two mirrored half-chunks: seq_len must be divisible by 2 x cp = " +
                     std::to_string(2 * scenario.parallel.cp) + ", got " + std::to_string(scenario.training->seq_len));
  }
  if (scenario.training && scenario.training->documents && scenario.training->documents->cp_split_per_document &&
      cp_query_shards(scenario) < 2) {
    issues.error("/training/documents/cp_split",
                 "\"document\" cuts each document over the context-parallel query shards: it needs cp > 1 with KV "
                 "AllGather, Ring Attention or hybrid CP (Ulysses keeps whole sequences), got " +
                     std::to_string(cp_query_shards(scenario)) + " shard(s)");
  }
  for (const auto& spec : scenario.strategies) {
    if (spec.name != kKvAllGatherName && spec.name != kRingAttentionName && spec.name != kUlyssesName &&
        spec.name != kHybridCpName)
      continue;
    const auto name = config::pointer_child(spec.pointer, "name");
    if (scenario.type != config::ScenarioType::Training || !scenario.training || !scenario.model) {
      issues.error(name, spec.name + " is a context-parallel algorithm of training: it needs a training scenario");
      continue;
    }
    if (scenario.parallel.cp < 2) {
      issues.error(name, spec.name + " splits attention over the context-parallel group: it needs cp > 1, got cp = " +
                             std::to_string(scenario.parallel.cp));
      continue;
    }
    if (spec.name == kRingAttentionName) check_ring_attention_layout(scenario, spec, issues);
    if (spec.name == kUlyssesName) check_ulysses_layout(scenario, spec, issues);
    if (spec.name == kHybridCpName) check_hybrid_cp_layout(scenario, spec, issues);
  }
}

}  // namespace moesim::strategy

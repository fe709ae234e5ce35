#include "strategy/data_balance_sequences.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "strategy/context_parallel.hpp"

namespace moesim::strategy {

namespace {

// Indices of `work` (a subset given by `items`) dealt into `bins` bins of `capacity` items, heaviest first, each to
// the lightest bin with room (ties: lower index).
std::vector<std::vector<std::size_t>> deal(const std::vector<double>& work, std::vector<std::size_t> items, int bins,
                                           int capacity) {
  std::stable_sort(items.begin(), items.end(), [&](std::size_t a, std::size_t b) { return work[a] > work[b]; });
  std::vector<std::vector<std::size_t>> out(static_cast<std::size_t>(bins));
  std::vector<double> load(static_cast<std::size_t>(bins), 0.0);
  for (std::size_t item : items) {
    std::size_t best = out.size();
    for (std::size_t b = 0; b < out.size(); ++b) {
      if (static_cast<int>(out[b].size()) >= capacity) continue;
      if (best == out.size() || load[b] < load[best]) best = b;
    }
    if (best == out.size()) throw std::logic_error("sequence_balance: more sequences than room");
    out[best].push_back(item);
    load[best] += work[item];
  }
  return out;
}

bool lists_sequence_balance(const config::ScenarioConfig& scenario) {
  return std::any_of(scenario.strategies.begin(), scenario.strategies.end(),
                     [](const config::StrategySpec& spec) { return spec.name == kSequenceBalanceName; });
}

}  // namespace

void check_sequence_balance_params(config::ObjectReader& params) {
  params.finish();
}

void check_sequence_balance_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                   config::IssueCollector& issues) {
  if (scenario.type != config::ScenarioType::Training || !scenario.training || !scenario.training->documents) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "sequence_balance deals sequences by their documents' attention work: it needs a training scenario "
                 "with training.documents");
  }
}

model::SequenceDeal balanced_deal(const std::vector<double>& work, int dp, int micro_batches, int micro_batch_size) {
  if (static_cast<std::size_t>(dp) * micro_batches * micro_batch_size != work.size())
    throw std::invalid_argument("balanced_work: dp x micro-batches x micro-batch size must be the sequence count");
  std::vector<std::size_t> all(work.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  model::SequenceDeal out;
  for (const auto& replica : deal(work, all, dp, micro_batches * micro_batch_size))
    out.push_back(deal(work, replica, micro_batches, micro_batch_size));
  return out;
}

model::MicroBatchWork balanced_work(const std::vector<double>& work, int dp, int micro_batches, int micro_batch_size) {
  return model::micro_batch_work(balanced_deal(work, dp, micro_batches, micro_batch_size), work);
}

model::MicroBatchWork scenario_attention_work(const config::ScenarioConfig& scenario, int step) {
  if (!scenario.training || !scenario.training->documents) return {};
  const auto& t = *scenario.training;
  const int dp = scenario.parallel.dp;
  const int micro_batches = config::micro_batches_per_step(scenario);
  const std::uint64_t seed = scenario.seed + 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(step);
  const auto pieces = model::pack_documents(*t.documents, t.seq_len, t.global_batch_size, seed);
  std::vector<double> work;
  work.reserve(pieces.size());
  for (const auto& sequence : pieces) work.push_back(model::sequence_work(sequence, t.seq_len));
  const auto order = lists_sequence_balance(scenario) ? balanced_deal(work, dp, micro_batches, t.micro_batch_size)
                                                      : model::contiguous_deal(dp, micro_batches, t.micro_batch_size);
  const int shards = cp_query_shards(scenario);
  std::vector<std::vector<double>> shard_pairs;
  if (shards > 1) {
    shard_pairs.reserve(pieces.size());
    for (const auto& sequence : pieces) {
      shard_pairs.push_back(model::cp_shard_pair_work(sequence, t.seq_len, shards, t.documents->cp_split_per_document));
    }
  }
  auto out = model::micro_batch_work(order, work, shard_pairs, shards);
  std::size_t piece_count = 0;
  for (const auto& sequence : pieces) piece_count += sequence.size();
  if (piece_count > 0) out.piece_tokens_mean = double(t.seq_len) * double(pieces.size()) / double(piece_count);
  return out;
}

}  // namespace moesim::strategy

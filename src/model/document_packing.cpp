#include "model/document_packing.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace moesim::model {

std::vector<std::vector<double>> pack_documents(const config::DocumentLengths& lengths, int seq_len, int sequences,
                                                std::uint64_t seed) {
  if (seq_len < 1 || sequences < 0 || !(lengths.mean_tokens > 0.0) || lengths.sigma < 0.0)
    throw std::invalid_argument("pack_documents: bad document lengths or sequence shape");
  // E[X] = exp(mu + sigma^2 / 2) = mean_tokens
  const double mu = std::log(lengths.mean_tokens) - lengths.sigma * lengths.sigma / 2.0;
  std::mt19937_64 rng(seed ^ 0x646f63756d656e74ULL);  // own stream: "document"
  std::lognormal_distribution<double> draw(mu, lengths.sigma);
  std::vector<std::vector<double>> out(static_cast<std::size_t>(sequences));
  double left = 0.0;  // tokens of the current document not yet placed
  for (auto& pieces : out) {
    double room = seq_len;
    while (room > 0.0) {
      if (left <= 0.0) left = std::max(1.0, std::round(draw(rng)));
      const double piece = std::min(left, room);
      pieces.push_back(piece);
      left -= piece;
      room -= piece;
    }
  }
  return out;
}

double sequence_work(const std::vector<double>& pieces, int seq_len) {
  const double s = seq_len;
  double pairs = 0.0;
  for (double piece : pieces) pairs += piece * (piece + 1.0);
  return pairs / (s * (s + 1.0));
}

std::vector<double> sequence_attention_work(const config::DocumentLengths& lengths, int seq_len, int sequences,
                                            std::uint64_t seed) {
  std::vector<double> work;
  work.reserve(static_cast<std::size_t>(std::max(sequences, 0)));
  for (const auto& pieces : pack_documents(lengths, seq_len, sequences, seed))
    work.push_back(sequence_work(pieces, seq_len));
  return work;
}

namespace {

// sum over u = 1..t of min(u, n) (0 for t <= 0)
double capped_triangle(double t, double n) {
  if (t <= 0.0) return 0.0;
  if (t <= n) return t * (t + 1.0) / 2.0;
  return n * (n + 1.0) / 2.0 + (t - n) * n;
}

// Causal pairs (q, k), k <= q, with q in [q0, q1) and k in [k0, k1) (both already inside one document).
double causal_pairs(double q0, double q1, double k0, double k1) {
  if (q1 <= q0 || k1 <= k0) return 0.0;
  // query q sees min(max(q - k0 + 1, 0), k1 - k0) keys; u = q - k0 + 1 runs from q0 - k0 + 1 to q1 - k0
  const double n = k1 - k0;
  return capped_triangle(q1 - k0, n) - capped_triangle(q0 - k0, n);
}

}  // namespace

std::vector<double> cp_shard_pair_work(const std::vector<double>& pieces, int seq_len, int shards, bool per_document) {
  if (shards <= 1) return {sequence_work(pieces, seq_len)};
  if (seq_len % (2 * shards) != 0)
    throw std::invalid_argument("cp_shard_pair_work: seq_len not divisible by 2 x shards");
  const double s = seq_len;
  const auto n = static_cast<std::size_t>(shards);
  std::vector<double> pairs(n * n, 0.0);
  auto shard_of = [&](int c) { return static_cast<std::size_t>(c < shards ? c : 2 * shards - 1 - c); };
  double start = 0.0;
  for (double piece : pieces) {
    if (per_document) start = 0.0;  // the piece's own coordinates and chunks
    const double chunk = (per_document ? piece : s) / (2.0 * shards);
    const double end = start + piece;
    const int first = static_cast<int>(start / chunk), last = static_cast<int>(std::ceil(end / chunk)) - 1;
    for (int qc = first; qc <= last; ++qc) {
      const double q0 = std::max(start, qc * chunk), q1 = std::min(end, (qc + 1) * chunk);
      for (int kc = first; kc <= qc; ++kc) {  // keys at or before the queries' chunk
        const double k0 = std::max(start, kc * chunk), k1 = std::min(end, (kc + 1) * chunk);
        pairs[shard_of(qc) * n + shard_of(kc)] += causal_pairs(q0, q1, k0, k1);
      }
    }
    start = end;
  }
  const double per_pair = s * (s + 1.0) / 2.0 / static_cast<double>(n * n);
  for (double& p : pairs) p /= per_pair;
  return pairs;
}

double MicroBatchWork::shard_pair(int replica, int micro_batch, int p, int j) const {
  if (shard_pairs.empty()) return at(replica, micro_batch);
  return shard_pairs[static_cast<std::size_t>(replica)][static_cast<std::size_t>(micro_batch)]
                    [static_cast<std::size_t>(p * cp_shards + j)];
}

double MicroBatchWork::shard_queries(int replica, int micro_batch, int p) const {
  if (shard_pairs.empty()) return at(replica, micro_batch);
  double sum = 0.0;
  for (int j = 0; j < cp_shards; ++j) sum += shard_pair(replica, micro_batch, p, j);
  return sum / cp_shards;
}

double MicroBatchWork::cp_shard_max_over_mean() const {
  if (shard_pairs.empty()) return 1.0;
  double largest = 0.0, mean = 0.0;
  for (std::size_t r = 0; r < factor.size(); ++r) {
    for (std::size_t m = 0; m < factor[r].size(); ++m) {
      double most = 0.0;
      for (int p = 0; p < cp_shards; ++p)
        most = std::max(most, shard_queries(static_cast<int>(r), static_cast<int>(m), p));
      largest += most;
      mean += factor[r][m];
    }
  }
  return mean > 0.0 ? largest / mean : 1.0;
}

double MicroBatchWork::mean() const {
  double sum = 0.0, count = 0.0;
  for (const auto& replica : factor) {
    for (double f : replica) {
      sum += f;
      count += 1.0;
    }
  }
  return count > 0.0 ? sum / count : 1.0;
}

double MicroBatchWork::micro_batch_max_over_mean() const {
  double largest = 0.0;
  for (const auto& replica : factor) {
    for (double f : replica) largest = std::max(largest, f);
  }
  const double m = mean();
  return factor.empty() || !(m > 0.0) ? 1.0 : largest / m;
}

double MicroBatchWork::replica_max_over_mean() const {
  if (factor.empty()) return 1.0;
  double total = 0.0, largest = 0.0;
  for (const auto& replica : factor) {
    double sum = 0.0;
    for (double f : replica) sum += f;
    total += sum;
    largest = std::max(largest, sum);
  }
  return total > 0.0 ? largest / (total / static_cast<double>(factor.size())) : 1.0;
}

SequenceDeal contiguous_deal(int dp, int micro_batches, int micro_batch_size) {
  SequenceDeal deal(static_cast<std::size_t>(dp),
                    std::vector<std::vector<std::size_t>>(static_cast<std::size_t>(micro_batches)));
  std::size_t q = 0;
  for (auto& replica : deal) {
    for (auto& micro_batch : replica) {
      for (int i = 0; i < micro_batch_size; ++i) micro_batch.push_back(q++);
    }
  }
  return deal;
}

MicroBatchWork micro_batch_work(const SequenceDeal& deal, const std::vector<double>& work,
                                const std::vector<std::vector<double>>& shard_pairs, int cp_shards) {
  MicroBatchWork out;
  const bool shards = cp_shards > 1;
  if (shards && shard_pairs.size() != work.size())
    throw std::invalid_argument("micro_batch_work: one shard-pair list per sequence expected");
  out.cp_shards = shards ? cp_shards : 1;
  const std::size_t cells = static_cast<std::size_t>(cp_shards) * static_cast<std::size_t>(cp_shards);
  for (const auto& replica : deal) {
    out.factor.emplace_back();
    if (shards) out.shard_pairs.emplace_back();
    for (const auto& micro_batch : replica) {
      double sum = 0.0;
      std::vector<double> pairs(shards ? cells : 0, 0.0);
      for (std::size_t q : micro_batch) {
        if (q >= work.size()) throw std::invalid_argument("micro_batch_work: sequence index out of range");
        sum += work[q];
        for (std::size_t c = 0; c < pairs.size(); ++c) pairs[c] += shard_pairs[q][c];
      }
      const double n = static_cast<double>(micro_batch.size());
      out.factor.back().push_back(sum / n);
      if (!shards) continue;
      for (double& p : pairs) p /= n;
      out.shard_pairs.back().push_back(std::move(pairs));
    }
  }
  return out;
}

MicroBatchWork contiguous_work(const std::vector<double>& work, int dp, int micro_batches, int micro_batch_size) {
  if (static_cast<std::size_t>(dp) * micro_batches * micro_batch_size != work.size())
    throw std::invalid_argument("contiguous_work: dp x micro-batches x micro-batch size must be the sequence count");
  return micro_batch_work(contiguous_deal(dp, micro_batches, micro_batch_size), work);
}

}  // namespace moesim::model

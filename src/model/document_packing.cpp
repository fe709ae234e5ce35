#include "model/document_packing.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace moesim::model {

std::vector<double> sequence_attention_work(const config::DocumentLengths& lengths, int seq_len, int sequences,
                                            std::uint64_t seed) {
  if (seq_len < 1 || sequences < 0 || !(lengths.mean_tokens > 0.0) || lengths.sigma < 0.0)
    throw std::invalid_argument("sequence_attention_work: bad document lengths or sequence shape");
  // E[X] = exp(mu + sigma^2 / 2) = mean_tokens
  const double mu = std::log(lengths.mean_tokens) - lengths.sigma * lengths.sigma / 2.0;
  std::mt19937_64 rng(seed ^ 0x646f63756d656e74ULL);  // own stream: "document"
  std::lognormal_distribution<double> draw(mu, lengths.sigma);
  const double s = seq_len;
  const double full = s * (s + 1.0);
  std::vector<double> work;
  work.reserve(static_cast<std::size_t>(sequences));
  double left = 0.0;  // tokens of the current document not yet placed
  for (int q = 0; q < sequences; ++q) {
    double room = s, pairs = 0.0;
    while (room > 0.0) {
      if (left <= 0.0) left = std::max(1.0, std::round(draw(rng)));
      const double piece = std::min(left, room);
      pairs += piece * (piece + 1.0);
      left -= piece;
      room -= piece;
    }
    work.push_back(pairs / full);
  }
  return work;
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

MicroBatchWork contiguous_work(const std::vector<double>& work, int dp, int micro_batches, int micro_batch_size) {
  if (static_cast<std::size_t>(dp) * micro_batches * micro_batch_size != work.size())
    throw std::invalid_argument("contiguous_work: dp x micro-batches x micro-batch size must be the sequence count");
  MicroBatchWork out;
  out.factor.assign(static_cast<std::size_t>(dp), std::vector<double>(static_cast<std::size_t>(micro_batches), 0.0));
  for (std::size_t q = 0; q < work.size(); ++q) {
    const std::size_t micro_batch = q / static_cast<std::size_t>(micro_batch_size);
    out.factor[micro_batch / static_cast<std::size_t>(micro_batches)][micro_batch % static_cast<std::size_t>(micro_batches)] +=
        work[q] / micro_batch_size;
  }
  return out;
}

}  // namespace moesim::model

#include "serving/workload.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace moesim::serving {

using config::ArrivalKind;
using config::LengthKind;

double Random::unit() {
  return static_cast<double>(generator_() >> 11) * 0x1.0p-53;
}

double Random::standard_normal() {
  const double u1 = 1.0 - unit();  // (0, 1]: log is finite
  const double u2 = unit();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double Random::exponential(double rate) {
  return -std::log(1.0 - unit()) / rate;
}

int draw_length(const config::LengthDistribution& d, Random& random) {
  double value = d.value;
  switch (d.kind) {
    case LengthKind::Fixed:
      return d.value;
    case LengthKind::Uniform: {
      const double span = static_cast<double>(d.max - d.min + 1);
      return std::min(d.max, d.min + static_cast<int>(std::floor(random.unit() * span)));
    }
    case LengthKind::Normal:
      value = d.mean + d.stddev * random.standard_normal();
      break;
    case LengthKind::Lognormal: {
      // sigma^2 = ln(1 + (stddev/mean)^2), written so that a huge ratio does not overflow to inf (then NaN).
      const double ratio = d.stddev / d.mean;
      const double sigma2 = ratio < 1e150 ? std::log1p(ratio * ratio) : 2.0 * std::log(ratio);
      const double mu = std::log(d.mean) - sigma2 / 2.0;
      value = std::exp(mu + std::sqrt(sigma2) * random.standard_normal());
      break;
    }
  }
  if (std::isnan(value)) value = d.max;  // not reached with finite inputs; never cast NaN to int
  const double clipped = std::clamp(std::round(value), static_cast<double>(d.min), static_cast<double>(d.max));
  return static_cast<int>(clipped);
}

// Arrival times and lengths use separate streams so that changing the rate keeps the lengths.
WorkloadSource::WorkloadSource(const config::ServingWorkload& workload, std::uint64_t seed)
    : workload_(workload), arrivals_(seed), lengths_(seed ^ 0x9e3779b97f4a7c15ULL) {}

bool WorkloadSource::ended(double arrival_s) const {
  if (workload_.requests && issued_ >= *workload_.requests) return true;
  return workload_.duration_s && arrival_s > *workload_.duration_s;
}

std::optional<RequestSpec> WorkloadSource::make(double arrival_s, int user) {
  if (ended(arrival_s)) return std::nullopt;
  RequestSpec r;
  r.arrival_s = arrival_s;
  r.prompt_tokens = draw_length(workload_.prompt_tokens, lengths_);
  r.output_tokens = draw_length(workload_.output_tokens, lengths_);
  r.user = user;
  ++issued_;
  return r;
}

std::vector<RequestSpec> WorkloadSource::initial() {
  std::vector<RequestSpec> requests;
  const auto& a = workload_.arrival;
  switch (a.kind) {
    case ArrivalKind::Trace: {
      for (const auto& t : a.trace) requests.push_back({t.arrival_s, t.prompt_tokens, t.output_tokens, -1});
      std::stable_sort(requests.begin(), requests.end(),
                       [](const RequestSpec& x, const RequestSpec& y) { return x.arrival_s < y.arrival_s; });
      std::size_t keep = 0;
      while (keep < requests.size() && !ended(requests[keep].arrival_s)) {
        ++keep;
        ++issued_;
      }
      requests.resize(keep);
      break;
    }
    case ArrivalKind::Poisson:
    case ArrivalKind::Constant: {
      double time_s = 0;
      for (std::size_t i = 0;; ++i) {
        if (a.kind == ArrivalKind::Poisson) {
          time_s += arrivals_.exponential(a.rate_per_s);
        } else {
          time_s = static_cast<double>(i) / a.rate_per_s;
        }
        auto request = make(time_s, -1);
        if (!request) break;
        requests.push_back(*request);
      }
      break;
    }
    case ArrivalKind::ClosedLoop:
      for (int user = 0; user < a.users; ++user) {
        auto request = make(0.0, user);
        if (!request) break;
        requests.push_back(*request);
      }
      break;
  }
  return requests;
}

std::optional<RequestSpec> WorkloadSource::after_completion(int user, double time_s) {
  if (!closed_loop()) return std::nullopt;
  return make(time_s + workload_.arrival.think_time_s, user);
}

}  // namespace moesim::serving

#pragma once
// Request workload of a serving scenario: arrival times and prompt/output lengths, drawn from the scenario's
// seed with std::mt19937_64 and explicit bit-to-double conversion (byte-identical on every platform), or read
// from a JSONL trace. Distributions and clipping: docs/serving.md ("Workload").
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "config/serving_config.hpp"

namespace moesim::serving {

struct RequestSpec {
  double arrival_s = 0;
  int prompt_tokens = 0;
  int output_tokens = 0;
  int user = -1;  // closed loop: the user who sent it
};

// Seeded draws with explicit conversions (no std:: distributions, whose output is implementation-defined).
class Random {
 public:
  explicit Random(std::uint64_t seed) : generator_(seed) {}
  double unit();                    // uniform in [0, 1), 53 random bits
  double standard_normal();         // Box-Muller on two unit() draws
  double exponential(double rate);  // mean 1 / rate

 private:
  std::mt19937_64 generator_;
};

// One draw of `d`, an integer clipped to [d.min, d.max] (fixed: d.value). Normal: round(mean + stddev z).
// Lognormal: `mean`/`stddev` are those of the token count; the underlying normal has sigma^2 = ln(1 + s^2/m^2),
// mu = ln m - sigma^2 / 2. Uniform: integers min..max with equal probability.
int draw_length(const config::LengthDistribution& d, Random& random);

// The requests of a workload. Open loop (poisson, constant, trace): every request is known at the start.
// Closed loop: `users` first requests at time 0, then one per completed response after the think time, until
// `requests` have been sent or the next arrival would come after `duration_s`.
class WorkloadSource {
 public:
  WorkloadSource(const config::ServingWorkload& workload, std::uint64_t seed);
  std::vector<RequestSpec> initial();
  // Closed loop only: the next request of `user`, whose last response completed at `time_s`.
  std::optional<RequestSpec> after_completion(int user, double time_s);
  bool closed_loop() const { return workload_.arrival.kind == config::ArrivalKind::ClosedLoop; }

 private:
  std::optional<RequestSpec> make(double arrival_s, int user);
  bool ended(double arrival_s) const;

  const config::ServingWorkload& workload_;
  Random arrivals_;
  Random lengths_;
  int issued_ = 0;
};

}  // namespace moesim::serving

// Workload generators: determinism, distribution moments, arrival processes, limits.
#include <catch2/catch.hpp>
#include <cmath>

#include "serving/workload.hpp"

using namespace moesim::serving;
using moesim::config::ArrivalKind;
using moesim::config::LengthDistribution;
using moesim::config::LengthKind;
using moesim::config::ServingWorkload;

namespace {

struct Moments {
  double mean = 0, stddev = 0, min = 1e300, max = -1e300;
};

Moments moments(const LengthDistribution& d, int draws, std::uint64_t seed = 7) {
  Random random(seed);
  double sum = 0, sum2 = 0;
  Moments m;
  for (int i = 0; i < draws; ++i) {
    const double v = draw_length(d, random);
    sum += v;
    sum2 += v * v;
    m.min = std::min(m.min, v);
    m.max = std::max(m.max, v);
  }
  m.mean = sum / draws;
  m.stddev = std::sqrt(sum2 / draws - m.mean * m.mean);
  return m;
}

LengthDistribution fixed(int value) {
  LengthDistribution d;
  d.kind = LengthKind::Fixed;
  d.value = d.min = d.max = value;
  return d;
}

ServingWorkload poisson(double rate, int requests) {
  ServingWorkload w;
  w.arrival.kind = ArrivalKind::Poisson;
  w.arrival.rate_per_s = rate;
  w.prompt_tokens = fixed(100);
  w.output_tokens = fixed(10);
  w.requests = requests;
  return w;
}

}  // namespace

TEST_CASE("unit draws use 53 bits below 1 and are reproducible") {
  Random a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const double x = a.unit();
    CHECK(x >= 0.0);
    CHECK(x < 1.0);
    CHECK(x == b.unit());
    differs = differs || x != c.unit();
  }
  CHECK(differs);
}

TEST_CASE("uniform lengths: integers min..max with the uniform mean and variance") {
  LengthDistribution d;
  d.kind = LengthKind::Uniform;
  d.min = 100;
  d.max = 200;
  const auto m = moments(d, 200000);
  CHECK(m.min == 100);
  CHECK(m.max == 200);
  CHECK(m.mean == Approx(150.0).epsilon(0.005));
  CHECK(m.stddev == Approx(std::sqrt((101.0 * 101.0 - 1.0) / 12.0)).epsilon(0.01));
}

TEST_CASE("normal lengths: mean and standard deviation, clipped to min..max") {
  LengthDistribution d;
  d.kind = LengthKind::Normal;
  d.mean = 500;
  d.stddev = 50;
  d.min = 1;
  d.max = 100000;
  const auto m = moments(d, 200000);
  CHECK(m.mean == Approx(500.0).epsilon(0.003));
  CHECK(m.stddev == Approx(50.0).epsilon(0.02));
  d.min = 480;
  d.max = 520;
  const auto clipped = moments(d, 20000);
  CHECK(clipped.min == 480);
  CHECK(clipped.max == 520);
}

TEST_CASE("lognormal lengths: mean and stddev are those of the token count") {
  LengthDistribution d;
  d.kind = LengthKind::Lognormal;
  d.mean = 1000;
  d.stddev = 500;
  d.min = 1;
  d.max = 1000000;
  const auto m = moments(d, 400000);
  CHECK(m.mean == Approx(1000.0).epsilon(0.01));
  CHECK(m.stddev == Approx(500.0).epsilon(0.03));
  CHECK(m.min >= 1);
}

TEST_CASE("lognormal lengths with a huge stddev stay inside min..max (no overflow to NaN)") {
  LengthDistribution d;
  d.kind = LengthKind::Lognormal;
  d.mean = 1024;
  d.stddev = 1e308;  // (stddev / mean)^2 overflows a double
  d.min = 16;
  d.max = 4096;
  Random random(7);
  for (int i = 0; i < 1000; ++i) {
    const int v = draw_length(d, random);
    CHECK(v >= 16);
    CHECK(v <= 4096);
  }
}

TEST_CASE("poisson arrivals: exponential gaps at the rate, same seed same requests") {
  const auto w = poisson(10.0, 50000);
  WorkloadSource a(w, 3), b(w, 3), c(w, 4);
  const auto ra = a.initial(), rb = b.initial(), rc = c.initial();
  REQUIRE(ra.size() == 50000);
  CHECK(ra.back().arrival_s == rb.back().arrival_s);
  CHECK(ra.back().arrival_s != rc.back().arrival_s);
  double sum = 0, sum2 = 0, previous = 0;
  for (const auto& r : ra) {
    const double gap = r.arrival_s - previous;
    previous = r.arrival_s;
    CHECK(gap >= 0);
    sum += gap;
    sum2 += gap * gap;
    CHECK(r.prompt_tokens == 100);
    CHECK(r.output_tokens == 10);
  }
  const double mean = sum / ra.size();
  CHECK(mean == Approx(0.1).epsilon(0.015));
  CHECK(std::sqrt(sum2 / ra.size() - mean * mean) / mean == Approx(1.0).epsilon(0.02));  // CV of an exponential
}

TEST_CASE("constant arrivals are i / rate, and duration_s ends the workload") {
  auto w = poisson(4.0, 0);
  w.arrival.kind = ArrivalKind::Constant;
  w.requests.reset();
  w.duration_s = 2.0;
  WorkloadSource source(w, 1);
  const auto requests = source.initial();
  REQUIRE(requests.size() == 9);  // 0, 0.25, ..., 2.0
  for (std::size_t i = 0; i < requests.size(); ++i) CHECK(requests[i].arrival_s == Approx(i * 0.25));
}

TEST_CASE("closed loop: one request per user at 0, the next after completion plus think time") {
  auto w = poisson(1.0, 5);
  w.arrival.kind = ArrivalKind::ClosedLoop;
  w.arrival.users = 3;
  w.arrival.think_time_s = 0.5;
  WorkloadSource source(w, 1);
  const auto first = source.initial();
  REQUIRE(first.size() == 3);
  for (int u = 0; u < 3; ++u) {
    CHECK(first[static_cast<std::size_t>(u)].user == u);
    CHECK(first[static_cast<std::size_t>(u)].arrival_s == 0.0);
  }
  const auto next = source.after_completion(1, 2.0);
  REQUIRE(next);
  CHECK(next->user == 1);
  CHECK(next->arrival_s == 2.5);
  CHECK(source.after_completion(0, 3.0));
  CHECK_FALSE(source.after_completion(2, 3.0));  // 5 requests sent
}

TEST_CASE("trace workloads are sorted by arrival and cut at requests") {
  ServingWorkload w;
  w.arrival.kind = ArrivalKind::Trace;
  w.arrival.trace = {{2.0, 10, 5, 1}, {0.5, 20, 6, 2}, {1.0, 30, 7, 3}};
  w.requests = 2;
  WorkloadSource source(w, 1);
  const auto requests = source.initial();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].arrival_s == 0.5);
  CHECK(requests[0].prompt_tokens == 20);
  CHECK(requests[1].arrival_s == 1.0);
  CHECK(requests[1].output_tokens == 7);
}

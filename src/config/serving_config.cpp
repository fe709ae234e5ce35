// Strict reading of the `serving` block and of JSONL request traces.
#include "config/serving_config.hpp"

#include <filesystem>
#include <fstream>

#include "config/units.hpp"

namespace moesim::config {

using nlohmann::json;

std::string to_string(ArrivalKind kind) {
  switch (kind) {
    case ArrivalKind::Poisson:
      return "poisson";
    case ArrivalKind::Constant:
      return "constant";
    case ArrivalKind::ClosedLoop:
      return "closed_loop";
    case ArrivalKind::Trace:
      return "trace";
  }
  return "?";
}

std::string to_string(LengthKind kind) {
  switch (kind) {
    case LengthKind::Fixed:
      return "fixed";
    case LengthKind::Uniform:
      return "uniform";
    case LengthKind::Normal:
      return "normal";
    case LengthKind::Lognormal:
      return "lognormal";
  }
  return "?";
}

namespace {

int read_int(ObjectReader& reader, const std::string& key, Range range = Range::AtLeastOne) {
  return static_cast<int>(reader.integer(key, range));
}

LengthDistribution read_length(ObjectReader reader) {
  LengthDistribution d;
  const std::string kind = reader.choice("distribution", {"fixed", "uniform", "normal", "lognormal"});
  if (kind == "fixed") {
    d.kind = LengthKind::Fixed;
    d.value = read_int(reader, "value");
    d.min = d.max = d.value;
  } else {
    d.kind = kind == "uniform" ? LengthKind::Uniform : kind == "normal" ? LengthKind::Normal : LengthKind::Lognormal;
    if (d.kind != LengthKind::Uniform) {
      d.mean = reader.number("mean");
      d.stddev = reader.number("stddev", d.kind == LengthKind::Normal ? Range::NonNegative : Range::Positive);
    }
    const auto min = reader.optional_integer("min", Range::AtLeastOne);
    d.min = min ? static_cast<int>(*min) : 1;
    if (d.kind == LengthKind::Uniform && reader.valid() && !reader.has("min")) {
      reader.issues().error(reader.child("min"), "missing required key (uniform needs min and max)");
    }
    d.max = read_int(reader, "max");
    if (d.max > 0 && d.min > d.max) {
      reader.issues().error(reader.child("max"),
                            "expected max >= min (" + std::to_string(d.min) + "), got " + std::to_string(d.max));
    }
  }
  reader.finish();
  return d;
}

ArrivalSpec read_arrival(ObjectReader reader, const std::string& scenario_file) {
  ArrivalSpec a;
  const std::string kind = reader.choice("kind", {"poisson", "constant", "closed_loop", "trace"});
  if (kind == "poisson" || kind == "constant") {
    a.kind = kind == "poisson" ? ArrivalKind::Poisson : ArrivalKind::Constant;
    a.rate_per_s = reader.number("rate_per_s");
  } else if (kind == "closed_loop") {
    a.kind = ArrivalKind::ClosedLoop;
    a.users = read_int(reader, "users");
    a.think_time_s = reader.optional_number("think_time_s", Range::NonNegative).value_or(0.0);
  } else if (kind == "trace") {
    a.kind = ArrivalKind::Trace;
    const std::string file = reader.string("file");
    if (!file.empty()) {
      std::filesystem::path path(file);
      a.trace_file = path.is_absolute()
                         ? file
                         : (std::filesystem::path(scenario_file).parent_path() / path).lexically_normal().string();
      try {
        a.trace = load_request_trace(a.trace_file);
      } catch (const ConfigError& error) {
        reader.issues().merge(error);
      }
    }
  }
  reader.finish();
  return a;
}

ServingWorkload read_workload(ObjectReader reader, const std::string& scenario_file) {
  ServingWorkload w;
  w.arrival = read_arrival(reader.object("arrival"), scenario_file);
  const bool trace = w.arrival.kind == ArrivalKind::Trace;
  for (const char* key : {"prompt_tokens", "output_tokens"}) {
    LengthDistribution& d = std::string(key) == "prompt_tokens" ? w.prompt_tokens : w.output_tokens;
    if (trace) {
      if (reader.has(key))
        reader.issues().error(reader.child(key), "not used with a trace (the trace gives the lengths)");
      reader.allow(key);
    } else {
      d = read_length(reader.object(key));
    }
  }
  if (auto requests = reader.optional_integer("requests", Range::AtLeastOne)) w.requests = static_cast<int>(*requests);
  w.duration_s = reader.optional_number("duration_s");
  if (!trace && !w.requests && !w.duration_s && reader.valid() && !reader.has("requests") &&
      !reader.has("duration_s")) {
    reader.issues().error(reader.child("requests"), "give requests or duration_s (or both) to end the workload");
  }
  reader.finish();
  return w;
}

SchedulerConfig read_scheduler(ObjectReader reader) {
  SchedulerConfig s;
  if (auto v = reader.optional_integer("max_batch", Range::AtLeastOne)) s.max_batch = static_cast<int>(*v);
  if (auto v = reader.optional_integer("max_tokens_per_step", Range::AtLeastOne)) {
    s.max_tokens_per_step = static_cast<int>(*v);
  }
  s.chunked_prefill = reader.optional_boolean("chunked_prefill").value_or(false);
  reader.finish();
  return s;
}

KvCacheConfig read_kv_cache(ObjectReader reader) {
  KvCacheConfig k;
  if (auto v = reader.optional_integer("block_tokens", Range::AtLeastOne)) k.block_tokens = static_cast<int>(*v);
  if (auto v = reader.optional_sourced("workspace_gib", Range::NonNegative)) {
    v->value *= units::kGibibyte;
    k.workspace_bytes = *v;
  }
  reader.finish();
  return k;
}

std::vector<int> read_grid(ObjectReader& reader, const std::string& key) {
  std::vector<int> grid;
  if (!reader.has(key)) {
    reader.allow(key);
    return grid;
  }
  for (const auto& [element, pointer] : reader.array(key, 1)) {
    if (element->is_number_integer() && element->get<long long>() >= 1 && element->get<long long>() < (1LL << 31)) {
      const int value = static_cast<int>(element->get<long long>());
      if (!grid.empty() && value <= grid.back()) reader.issues().error(pointer, "expected increasing values");
      grid.push_back(value);
    } else {
      reader.issues().error(pointer, "expected an integer >= 1");
    }
  }
  return grid;
}

ProfileGrid read_profile(ObjectReader reader) {
  ProfileGrid g;
  g.decode_batches = read_grid(reader, "decode_batches");
  g.decode_kv_lens = read_grid(reader, "decode_kv_lens");
  g.prefill_tokens = read_grid(reader, "prefill_tokens");
  reader.finish();
  return g;
}

json length_json(const LengthDistribution& d) {
  json out = {{"distribution", to_string(d.kind)}};
  if (d.kind == LengthKind::Fixed) {
    out["value"] = d.value;
    return out;
  }
  if (d.kind != LengthKind::Uniform) {
    out["mean"] = d.mean;
    out["stddev"] = d.stddev;
  }
  out["min"] = d.min;
  out["max"] = d.max;
  return out;
}

}  // namespace

json serving_resolved_json(const ServingConfig& s) {
  const auto& a = s.workload.arrival;
  json arrival = {{"kind", to_string(a.kind)}};
  if (a.kind == ArrivalKind::Poisson || a.kind == ArrivalKind::Constant) arrival["rate_per_s"] = a.rate_per_s;
  if (a.kind == ArrivalKind::ClosedLoop) {
    arrival["users"] = a.users;
    arrival["think_time_s"] = a.think_time_s;
  }
  if (a.kind == ArrivalKind::Trace) {
    arrival["file"] = a.trace_file;
    arrival["trace_requests"] = a.trace.size();
  }
  json workload = {{"arrival", arrival}};
  if (a.kind != ArrivalKind::Trace) {
    workload["prompt_tokens"] = length_json(s.workload.prompt_tokens);
    workload["output_tokens"] = length_json(s.workload.output_tokens);
  }
  if (s.workload.requests) workload["requests"] = *s.workload.requests;
  if (s.workload.duration_s) workload["duration_s"] = *s.workload.duration_s;
  json out = {{"workload", workload},
              {"scheduler",
               {{"max_batch", s.scheduler.max_batch},
                {"max_tokens_per_step", s.scheduler.max_tokens_per_step},
                {"chunked_prefill", s.scheduler.chunked_prefill}}},
              {"kv_cache", {{"block_tokens", s.kv_cache.block_tokens}}}};
  if (s.instances) out["instances"] = *s.instances;
  if (s.kv_cache.workspace_bytes)
    out["kv_cache"]["workspace_gib"] = s.kv_cache.workspace_bytes->value / units::kGibibyte;
  if (s.disaggregation) out["disaggregation"] = {{"prefill_instances", s.disaggregation->prefill_instances}};
  if (s.slo.ttft_s > 0) out["slo"]["ttft_ms"] = s.slo.ttft_s * 1e3;
  if (s.slo.tpot_s > 0) out["slo"]["tpot_ms"] = s.slo.tpot_s * 1e3;
  return out;
}

ServingConfig read_serving(ObjectReader reader, const std::string& scenario_file) {
  ServingConfig s;
  s.workload = read_workload(reader.object("workload"), scenario_file);
  if (auto v = reader.optional_integer("instances", Range::AtLeastOne)) s.instances = static_cast<int>(*v);
  if (auto r = reader.optional_object("scheduler")) s.scheduler = read_scheduler(*r);
  if (auto r = reader.optional_object("kv_cache")) s.kv_cache = read_kv_cache(*r);
  if (auto r = reader.optional_object("disaggregation")) {
    DisaggregationConfig d;
    d.prefill_instances = static_cast<int>(r->integer("prefill_instances", Range::AtLeastOne));
    r->finish();
    s.disaggregation = d;
  }
  if (auto r = reader.optional_object("slo")) {
    s.slo.ttft_s = r->optional_number("ttft_ms").value_or(0.0) * 1e-3;
    s.slo.tpot_s = r->optional_number("tpot_ms").value_or(0.0) * 1e-3;
    r->finish();
  }
  if (auto r = reader.optional_object("profile")) s.profile = read_profile(*r);
  reader.finish();
  return s;
}

std::vector<TraceRequest> load_request_trace(const std::string& path) {
  IssueCollector issues(path);
  std::ifstream in(path);
  if (!in) {
    issues.error("", "cannot open file (expected a JSONL request trace)");
    issues.throw_if_any();
  }
  std::vector<TraceRequest> requests;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "line " + std::to_string(number);
    json value;
    try {
      value = json::parse(line);
    } catch (const json::parse_error& error) {
      issues.error(where, "malformed JSON at column " + std::to_string(error.byte > 0 ? error.byte : 1) +
                              " (expected one object per line with arrival_s, prompt_tokens, output_tokens)");
      continue;
    }
    ObjectReader reader(value, where + " ", issues);
    TraceRequest request;
    request.line = number;
    request.arrival_s = reader.number("arrival_s", Range::NonNegative);
    request.prompt_tokens = read_int(reader, "prompt_tokens");
    request.output_tokens = read_int(reader, "output_tokens");
    reader.finish();
    requests.push_back(request);
  }
  if (requests.empty() && issues.empty()) issues.error("", "the trace holds no request");
  issues.throw_if_any();
  return requests;
}

}  // namespace moesim::config

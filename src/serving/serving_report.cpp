#include "serving/serving_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "config/units.hpp"

namespace moesim::serving {

using nlohmann::json;

namespace {

constexpr int kSeriesPoints = 100;

// {mean, p50, p90, p99} in milliseconds, plus the flat "<name>_<stat>" scalars `moesim validate` can read.
void add_distribution(json& metrics, const std::string& name, const std::vector<double>& seconds) {
  std::vector<double> ms;
  ms.reserve(seconds.size());
  for (double s : seconds) ms.push_back(s * 1e3);
  double sum = 0;
  for (double v : ms) sum += v;
  const double mean = ms.empty() ? 0.0 : sum / static_cast<double>(ms.size());
  json stats = {
      {"mean", mean}, {"p50", percentile(ms, 0.5)}, {"p90", percentile(ms, 0.9)}, {"p99", percentile(ms, 0.99)}};
  for (const auto& [stat, value] : stats.items()) metrics[name + "_" + stat] = value;
  metrics[name] = stats;
}

// Mean running batch (sequences in the step) per time bucket, over all instances' steps.
json batch_series(const ServingResult& result) {
  const double bucket_s = result.makespan_s > 0 ? result.makespan_s / kSeriesPoints : 1.0;
  std::vector<double> weighted(kSeriesPoints, 0.0), time(kSeriesPoints, 0.0);
  for (const auto& step : result.steps) {
    const double batch = step.decode_seqs + step.prefill_seqs;
    // Split the step over the buckets it overlaps.
    auto first = static_cast<int>(step.start_s / bucket_s);
    for (int b = std::max(0, first); b < kSeriesPoints; ++b) {
      const double lo = std::max(step.start_s, b * bucket_s), hi = std::min(step.end_s, (b + 1) * bucket_s);
      if (hi <= lo) break;
      weighted[static_cast<std::size_t>(b)] += batch * (hi - lo);
      time[static_cast<std::size_t>(b)] += hi - lo;
    }
  }
  json mean = json::array();
  for (int b = 0; b < kSeriesPoints; ++b) {
    const auto k = static_cast<std::size_t>(b);
    mean.push_back(time[k] > 0 ? weighted[k] / time[k] : 0.0);
  }
  return {{"bucket_s", bucket_s}, {"mean_batch", mean}};
}

}  // namespace

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(position));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (position - static_cast<double>(lo));
}

json serving_metrics(const ServingResult& result, const ReportContext& c) {
  std::vector<double> ttft, tpot, e2e, transfer;
  double output_tokens = 0, prompt_tokens = 0;
  int ttft_ok = 0, tpot_ok = 0, both_ok = 0;
  for (const auto& r : result.requests) {
    ttft.push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
    e2e.push_back(r.e2e_s());
    if (c.prefill_instances > 0) transfer.push_back(r.kv_transfer_s);
    output_tokens += r.output_tokens;
    prompt_tokens += r.prompt_tokens;
    const bool t_ok = c.slo.ttft_s <= 0 || r.ttft_s() <= c.slo.ttft_s;
    const bool p_ok = c.slo.tpot_s <= 0 || r.tpot_s() <= c.slo.tpot_s;
    ttft_ok += t_ok;
    tpot_ok += p_ok;
    both_ok += t_ok && p_ok;
  }
  const double n = static_cast<double>(result.requests.size());
  const double duration = result.makespan_s;
  json m;
  m["mode"] = "serving";
  m["requests"] = result.requests.size();
  m["prompt_tokens"] = prompt_tokens;
  m["output_tokens"] = output_tokens;
  m["duration_s"] = duration;
  m["throughput_tokens_per_s"] = duration > 0 ? output_tokens / duration : 0.0;
  m["throughput_tokens_per_s_per_device"] = duration > 0 ? output_tokens / duration / c.devices : 0.0;
  m["prompt_throughput_tokens_per_s"] = duration > 0 ? prompt_tokens / duration : 0.0;
  m["requests_per_s"] = duration > 0 ? n / duration : 0.0;
  add_distribution(m, "ttft_ms", ttft);
  add_distribution(m, "tpot_ms", tpot);
  add_distribution(m, "e2e_latency_ms", e2e);
  if (c.prefill_instances > 0) add_distribution(m, "kv_transfer_ms", transfer);
  if (c.slo.ttft_s > 0 || c.slo.tpot_s > 0) {
    json slo = {{"requests_meeting_all", n > 0 ? both_ok / n : 0.0}};
    if (c.slo.ttft_s > 0) {
      slo["ttft_ms_target"] = c.slo.ttft_s * 1e3;
      slo["ttft"] = n > 0 ? ttft_ok / n : 0.0;
    }
    if (c.slo.tpot_s > 0) {
      slo["tpot_ms_target"] = c.slo.tpot_s * 1e3;
      slo["tpot"] = n > 0 ? tpot_ok / n : 0.0;
    }
    m["slo_attainment"] = slo;
    m["slo_attainment_all"] = slo["requests_meeting_all"];
  }
  m["kv_cache_utilisation"] = {{"mean", result.kv_utilisation_mean}, {"peak", result.kv_utilisation_peak}};
  m["kv_cache"] = {{"blocks_per_instance", c.kv.blocks},
                   {"block_tokens", c.kv.block_tokens},
                   {"tokens_per_instance", c.kv.tokens()},
                   {"device_gib_per_rank", c.kv.device_bytes / config::units::kGibibyte},
                   {"weights_gib_per_rank", c.kv.weight_bytes / config::units::kGibibyte},
                   {"workspace_gib_per_rank", c.kv.workspace_bytes / config::units::kGibibyte},
                   {"workspace_source", c.kv.workspace_source},
                   {"kv_bytes_per_token_per_rank", c.kv.kv_bytes_per_token}};
  m["preemptions"] = result.preemptions;
  std::vector<double> batches;
  batches.reserve(result.steps.size());
  for (const auto& s : result.steps) batches.push_back(s.decode_seqs + s.prefill_seqs);
  double batch_sum = 0;
  for (double b : batches) batch_sum += b;
  m["steps"] = result.steps.size();
  m["batch_size"] = {{"mean", batches.empty() ? 0.0 : batch_sum / static_cast<double>(batches.size())},
                     {"p50", percentile(batches, 0.5)},
                     {"p99", percentile(batches, 0.99)},
                     {"max", batches.empty() ? 0.0 : *std::max_element(batches.begin(), batches.end())}};
  m["batch_size_series"] = batch_series(result);
  double busy = 0;
  for (double v : result.class_s) busy += v;
  json shares = json::object();
  for (std::size_t k = 0; k < c.class_names.size() && k < result.class_s.size(); ++k) {
    shares[c.class_names[k]] = busy > 0 ? result.class_s[k] / busy : 0.0;
  }
  m["op_class_time_share"] = shares;
  m["instances"] = {{"count", c.instances},
                    {"prefill", c.prefill_instances},
                    {"decode", c.prefill_instances > 0 ? c.instances - c.prefill_instances : 0},
                    {"ranks_per_instance", c.ranks_per_instance},
                    {"devices", c.devices}};
  return m;
}

void write_requests_jsonl(const std::string& out_dir, const ServingResult& result) {
  std::filesystem::create_directories(out_dir);
  const std::string path = (std::filesystem::path(out_dir) / "requests.jsonl").string();
  std::ofstream out(path);
  for (const auto& r : result.requests) {
    json row = {{"id", r.id},
                {"arrival_s", r.arrival_s},
                {"prompt_tokens", r.prompt_tokens},
                {"output_tokens", r.output_tokens},
                {"instance", r.instance},
                {"first_token_s", r.first_token_s},
                {"finish_s", r.finish_s},
                {"ttft_ms", r.ttft_s() * 1e3},
                {"tpot_ms", r.tpot_s() * 1e3},
                {"e2e_latency_ms", r.e2e_s() * 1e3},
                {"preemptions", r.preemptions}};
    if (r.decode_instance >= 0) {
      row["decode_instance"] = r.decode_instance;
      row["kv_transfer_ms"] = r.kv_transfer_s * 1e3;
    }
    out << row.dump() << '\n';
  }
  if (!out) throw std::runtime_error("cannot write " + path);
}

void write_steps_csv(const std::string& out_dir, const ServingResult& result) {
  std::filesystem::create_directories(out_dir);
  const std::string path = (std::filesystem::path(out_dir) / "steps.csv").string();
  std::ofstream out(path);
  out << "start_s,end_s,instance,decode_seqs,prefill_seqs,prefill_tokens,kv_blocks_used\n";
  char line[256];
  for (const auto& s : result.steps) {
    std::snprintf(line, sizeof line, "%.9g,%.9g,%d,%d,%d,%d,%lld\n", s.start_s, s.end_s, s.instance, s.decode_seqs,
                  s.prefill_seqs, s.prefill_tokens, s.used_blocks);
    out << line;
  }
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace moesim::serving

#include "metrics/summary.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/npu_usage.hpp"

namespace moesim::metrics {

using nlohmann::json;

namespace {

json stats(const std::vector<NpuUsage>& usage, double NpuUsage::*field) {
  double total = 0, max = 0, min = usage.empty() ? 0 : usage.front().*field;
  for (const auto& u : usage) {
    total += u.*field;
    max = std::max(max, u.*field);
    min = std::min(min, u.*field);
  }
  return {{"mean", usage.empty() ? 0 : total / static_cast<double>(usage.size())}, {"max", max}, {"min", min}};
}

json busiest_links(const engine::SimulationResult& result, int top_links) {
  std::vector<const engine::LinkUsage*> links;
  for (const auto& link : result.links) links.push_back(&link);
  auto utilization = [&](const engine::LinkUsage* link) {
    return result.makespan_s > 0 ? link->bytes / (link->bandwidth_bytes_per_s * result.makespan_s) : 0.0;
  };
  std::stable_sort(links.begin(), links.end(), [&](auto* a, auto* b) {
    if (utilization(a) != utilization(b)) return utilization(a) > utilization(b);
    return a->name < b->name;
  });
  json rows = json::array();
  for (std::size_t i = 0; i < links.size() && static_cast<int>(i) < top_links; ++i) {
    rows.push_back({{"link", links[i]->name},
                    {"bytes", links[i]->bytes},
                    {"bandwidth_bytes_per_s", links[i]->bandwidth_bytes_per_s},
                    {"utilization", utilization(links[i])}});
  }
  return rows;
}

}  // namespace

json build_summary(const config::ScenarioConfig& scenario, const model::OpGraph& graph,
                   const engine::SimulationResult& result, const json& workload_metrics, const EngineFigures& figures,
                   int top_links) {
  const auto usage = npu_usage(graph, result);
  json npus = json::array();
  for (const auto& u : usage) {
    npus.push_back({{"rank", u.rank},
                    {"busy_s", u.busy_s},
                    {"comm_s", u.comm_s},
                    {"host_s", u.host_s},
                    {"idle_s", u.idle_s},
                    {"exposed_comm_s", u.exposed_comm_s}});
  }
  json summary;
  summary["schema_version"] = kSummarySchemaVersion;
  summary["scenario"] = config::resolved_json(scenario);
  summary["simulated_time_s"] = result.makespan_s;
  summary["metrics"] = workload_metrics;
  summary["npu"] = {{"busy_s", stats(usage, &NpuUsage::busy_s)},
                    {"comm_s", stats(usage, &NpuUsage::comm_s)},
                    {"host_s", stats(usage, &NpuUsage::host_s)},
                    {"idle_s", stats(usage, &NpuUsage::idle_s)},
                    {"exposed_comm_s", stats(usage, &NpuUsage::exposed_comm_s)}};
  summary["npus"] = npus;
  summary["phases_s"] = phase_time_s(graph, result);
  summary["links_top"] = busiest_links(result, top_links);
  summary["sim"] = {{"wall_s", figures.wall_s},
                    {"simulate_wall_s", result.wall_s},
                    {"platform_setup_s", result.platform_setup_s},
                    {"events", result.events},
                    {"ops", graph.ops.size()},
                    {"flows", result.flows},
                    {"analytic_flows", result.analytic_flows},
                    {"folded_flows", result.folded_flows},
                    {"mirrored_ranks", result.mirrored_ranks},
                    {"peak_rss_mib", figures.peak_rss_mib}};
  if (result.mirrored_ranks > 0) {  // the shift kept: the first `shift` ranks of each block of `period` run
    summary["sim"]["mirror_period"] = result.mirror_period;
    summary["sim"]["mirror_shift"] = result.mirror_shift;
  }
  if (!result.mirror_refusal.empty()) summary["sim"]["mirror_refusal"] = result.mirror_refusal;
  return summary;
}

std::string summary_text(const json& summary) {
  std::ostringstream out;
  char line[256];
  auto row = [&](const char* label, const std::string& value) {
    std::snprintf(line, sizeof line, "  %-22s %s\n", label, value.c_str());
    out << line;
  };
  auto ms = [](double seconds) {
    char text[64];
    std::snprintf(text, sizeof text, "%.4f ms", seconds * 1e3);
    return std::string(text);
  };
  auto mean_max = [&](const json& s) {
    return ms(s["mean"].get<double>()) + " mean, " + ms(s["max"].get<double>()) + " max";
  };
  out << "summary\n";
  row("simulated time", ms(summary["simulated_time_s"].get<double>()));
  for (const auto& [key, value] : summary["metrics"].items()) {
    if (value.is_number_float()) {
      char text[64];
      std::snprintf(text, sizeof text, "%.6g", value.get<double>());
      row(key.c_str(), text);
    } else if (value.is_boolean()) {
      row(key.c_str(), value.get<bool>() ? "true" : "false");
    } else if (value.is_string() || value.is_number_integer()) {
      row(key.c_str(), value.is_string() ? value.get<std::string>() : std::to_string(value.get<long long>()));
    }
  }
  row("NPUs", std::to_string(summary["npus"].size()));
  row("compute busy", mean_max(summary["npu"]["busy_s"]));
  row("communication", mean_max(summary["npu"]["comm_s"]));
  row("exposed communication", mean_max(summary["npu"]["exposed_comm_s"]));
  row("idle", mean_max(summary["npu"]["idle_s"]));
  for (const auto& link : summary["links_top"]) {
    char text[160];
    std::snprintf(text, sizeof text, "%-28s %5.1f%%", link["link"].get<std::string>().c_str(),
                  100.0 * link["utilization"].get<double>());
    row("busiest link", text);
    break;
  }
  const auto& sim = summary["sim"];
  char text[160];
  std::snprintf(text, sizeof text, "wall %.3f s, %llu events, %llu ops, peak RSS %.0f MiB", sim["wall_s"].get<double>(),
                static_cast<unsigned long long>(sim["events"].get<std::uint64_t>()),
                static_cast<unsigned long long>(sim["ops"].get<std::uint64_t>()), sim["peak_rss_mib"].get<double>());
  row("engine", text);
  // Mirrored ranks (docs/engine.md): how many ranks took a leader's timings; a skewed load or a layout without the
  // symmetry runs every rank, which is why such runs take longer.
  if (sim.contains("mirrored_ranks") && sim["mirrored_ranks"].get<int>() > 0) {
    std::string shape;
    if (sim.contains("mirror_period")) {
      shape = ", the first " + std::to_string(sim["mirror_shift"].get<int>()) + " of each " +
              std::to_string(sim["mirror_period"].get<int>()) + " run";
    }
    row("mirrored ranks",
        std::to_string(sim["mirrored_ranks"].get<int>()) + " (timings of their leaders" + shape + ")");
  }
  return out.str();
}

void write_summary(const std::string& out_dir, const json& summary) {
  std::filesystem::create_directories(out_dir);
  const std::string path = (std::filesystem::path(out_dir) / "summary.json").string();
  std::ofstream out(path);
  out << summary.dump(2) << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace moesim::metrics

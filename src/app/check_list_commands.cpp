// `moesim check` (validate a scenario) and `moesim list` (what models, topologies, scenarios, strategies exist).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/commands.hpp"
#include "app/errors.hpp"
#include "app/scenario_loading.hpp"
#include "config/model_config.hpp"
#include "config/topology_config.hpp"
#include "config/units.hpp"
#include "metrics/training_metrics.hpp"
#include "model/inference_memory.hpp"
#include "strategy/catalog.hpp"
#include "strategy/expert_loads.hpp"
#include "strategy/inference_plan.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::app {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A training scenario's per-NPU memory from the memory model alone (no simulation; `run` reports the same figures):
// the worst stage's peak and breakdown, the verdict, and the memory strategy's plan.
std::string training_memory_text(const config::ScenarioConfig& scenario) {
  const auto orders = strategy::stage_orders(*strategy::make_pipeline_schedule(scenario), scenario);
  const json m = metrics::training_memory_json(scenario, orders);
  const json& b = m["memory_breakdown_gib"];
  std::ostringstream out;
  out.precision(4);
  out << "memory      estimate (memory model, no simulation): peak " << m["peak_memory_gib"].get<double>() << " GiB of "
      << m["device_memory_gib"].get<double>() << " on stage " << m["peak_stage"].get<int>() << " (weights "
      << b["weights"].get<double>() << ", gradients " << b["gradients"].get<double>() << ", optimizer states "
      << b["optimizer_states"].get<double>() << ", activations " << b["activations"].get<double>() << ", comm buffers "
      << b["comm_buffers"].get<double>() << ", workspace " << b["workspace"].get<double>()
      << "): " << (m["oom"].get<bool>() ? "OOM on rank " + std::to_string(m["oom_rank"].get<int>()) : "fits") << '\n';
  const auto memory_plan = strategy::resolve_memory_plan(scenario, orders);
  if (!memory_plan.report.is_null())
    out << "            activation plan: " << strategy::plan_text(memory_plan.plan) << '\n';
  return out.str();
}

// A training scenario's expert load as the step will meet it (no simulation): the spec and the busiest EP rank's rows
// over the balanced ones, the largest over MoE layers, steps and micro-batches (run's expert_load_max_factor).
std::string training_expert_load_text(const config::ScenarioConfig& scenario) {
  const json spec = config::resolved_json(scenario)["training"].value("expert_load", json());
  if (spec.is_null() || !scenario.model->moe) return "";
  std::ostringstream out;
  out.precision(4);
  out << "expert load " << spec.dump() << ": busiest EP rank " << strategy::scenario_expert_loads(scenario).max_factor()
      << "x the balanced rows (largest over layers, steps and micro-batches)\n";
  return out.str();
}

// A static-batch inference step's memory per rank (docs/inference.md "Memory"), as `run` reports it.
std::string inference_memory_text(const config::ScenarioConfig& scenario) {
  constexpr double kGiB = config::units::kGibibyte;
  const auto m =
      model::static_inference_memory(scenario, strategy::inference_step_plan(scenario).redundant_experts_per_rank);
  std::ostringstream out;
  out.precision(4);
  out << "memory      estimate (memory model, no simulation): " << m.total() / kGiB << " GiB of " << m.device / kGiB
      << " per rank (weights " << m.weights / kGiB << ", redundant experts " << m.redundant_expert_weights / kGiB
      << ", KV cache " << m.kv_cache / kGiB << ", workspace " << m.workspace / kGiB
      << "): " << (m.oom() ? "OOM" : "fits") << '\n';
  return out.str();
}

}  // namespace

int check_command(const CheckOptions& options) {
  return guarded([&] {
    const auto scenario = load_checked_scenario(options.scenario, options.overrides);
    if (options.json) {
      std::cout << config::resolved_json(scenario).dump(2) << '\n';
    } else {
      std::cout << scenario_text(scenario);
      if (scenario.training && scenario.model)
        std::cout << training_expert_load_text(scenario) << training_memory_text(scenario);
      if (scenario.inference && !scenario.serving && scenario.model) std::cout << inference_memory_text(scenario);
      std::cout << "OK\n";
    }
    return kExitOk;
  });
}

namespace {

// The folder holding models/ and topologies/: --root, else the current folder, else the build's parent.
fs::path find_root(const std::string& requested) {
  if (!requested.empty()) return requested;
  if (fs::is_directory("models") && fs::is_directory("topologies")) return fs::current_path();
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error && fs::is_directory(exe.parent_path().parent_path() / "models")) return exe.parent_path().parent_path();
  return fs::current_path();
}

// The *.json files under `folder`, recursively, except those under `skip` (a subfolder listed on its own).
std::vector<fs::path> json_files(const fs::path& folder, const fs::path& skip) {
  std::vector<fs::path> files;
  if (!fs::is_directory(folder)) return files;
  for (auto it = fs::recursive_directory_iterator(folder); it != fs::recursive_directory_iterator(); ++it) {
    if (!skip.empty() && it->is_directory() && it->path() == skip) {
      it.disable_recursion_pending();
    } else if (it->is_regular_file() && it->path().extension() == ".json") {
      files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// name + description of each file; a file that does not load is listed with its first error.
template <class Loader>
json describe_files(const fs::path& root, const std::string& folder, Loader load, const std::string& skip = "") {
  json rows = json::array();
  for (const auto& path : json_files(root / folder, skip.empty() ? fs::path() : root / folder / skip)) {
    const std::string relative = fs::relative(path, root).string();
    try {
      auto [name, description] = load(path.string());
      rows.push_back({{"file", relative}, {"name", name}, {"description", description}});
    } catch (const config::ConfigError& error) {
      rows.push_back({{"file", relative}, {"error", error.issues().front().to_string()}});
    }
  }
  return rows;
}

}  // namespace

int list_command(const ListOptions& options) {
  return guarded([&] {
    const fs::path root = find_root(options.root);
    json out;
    out["models"] = describe_files(root, "models", [](const std::string& p) {
      auto m = config::load_model(p);
      return std::pair(m.name, m.description);
    });
    out["topologies"] = describe_files(
        root, "topologies",
        [](const std::string& p) {
          auto t = config::load_topology(p);
          return std::pair(t.name, t.description);
        },
        "devices");
    out["devices"] = describe_files(root, "topologies/devices", [](const std::string& p) {
      auto d = config::load_device(p);
      return std::pair(d.name, d.description);
    });
    out["scenarios"] = describe_files(root, "scenarios", [](const std::string& p) {
      auto s = config::load_scenario(p);
      return std::pair(s.name, s.description);
    });
    json strategies = json::array();
    for (const auto& info : strategy::strategy_catalog()) {
      strategies.push_back({{"family", info.family}, {"name", info.name}, {"description", info.description}});
    }
    out["strategies"] = strategies;
    if (options.json) {
      std::cout << out.dump(2) << '\n';
      return kExitOk;
    }
    for (const char* section : {"models", "topologies", "devices", "scenarios", "strategies"}) {
      std::cout << section << ":\n";
      if (out[section].empty()) std::cout << "  (none)\n";
      for (const auto& row : out[section]) {
        if (row.contains("family")) {
          std::cout << "  " << row["name"].get<std::string>() << " [" << row["family"].get<std::string>()
                    << "]: " << row["description"].get<std::string>() << '\n';
        } else if (row.contains("error")) {
          std::cout << "  " << row["file"].get<std::string>() << "  INVALID: " << row["error"].get<std::string>()
                    << '\n';
        } else {
          std::cout << "  " << row["file"].get<std::string>() << "  " << row["name"].get<std::string>() << ": "
                    << row["description"].get<std::string>() << '\n';
        }
      }
    }
    return kExitOk;
  });
}

}  // namespace moesim::app

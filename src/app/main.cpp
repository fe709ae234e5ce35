// moesim command-line entry point: parses arguments (CLI11) and dispatches to the subcommands.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "app/commands.hpp"

int main(int argc, char** argv) {
  using namespace moesim::app;
  CLI::App app{"moesim: discrete-event simulator of MoE LLM training and inference on Ascend NPU clusters"};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--set, --log-level) may follow the subcommand
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  std::vector<std::string> overrides;
  app.add_option("--set", overrides, "override a scenario value before validation, e.g. --set parallel.tp=4")
      ->type_name("PATH=VALUE");

  DescribeOptions describe;
  auto* describe_cmd = app.add_subcommand("describe", "parameters, FLOPs and KV-cache size of a model file");
  describe_cmd->add_option("model", describe.file, "model JSON file")->required();
  describe_cmd->add_option("--seq", describe.seq_len, "sequence length for attention FLOPs")
      ->check(CLI::PositiveNumber);
  describe_cmd->add_flag("--json", describe.json, "one JSON object on stdout");

  DescribeOptions describe_topology;
  auto* topology_cmd = app.add_subcommand("describe-topology", "devices, fabrics and sourced numbers of a topology");
  topology_cmd->add_option("topology", describe_topology.file, "topology JSON file")->required();
  topology_cmd->add_flag("--json", describe_topology.json, "one JSON object on stdout");

  CheckOptions check;
  auto* check_cmd = app.add_subcommand("check", "validate a scenario and everything it references");
  check_cmd->add_option("scenario", check.scenario, "scenario JSON file")->required();
  check_cmd->add_flag("--json", check.json, "print the resolved scenario as JSON");

  ListOptions list;
  auto* list_cmd = app.add_subcommand("list", "list the models, topologies, scenarios and strategies found");
  list_cmd->add_option("--root", list.root, "folder holding models/, topologies/ and scenarios/");
  list_cmd->add_flag("--json", list.json, "one JSON object on stdout");

  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "simulate a scenario");
  run_cmd->add_option("scenario", run.scenario, "scenario JSON file")->required();
  run_cmd->add_option("--out", run.out_dir, "write DIR/summary.json");
  run_cmd->add_option("--trace", run.trace_file, "write a Chrome/Perfetto trace to FILE");
  run_cmd->add_flag("--quiet", run.quiet, "no progress indicator");
  run_cmd->add_flag("--full", run.full_simulation, "switch off every engine reduction (coarsening, cross-node flow aggregation, analytic and folded in-node flows, mirrored ranks, DP symmetry)");
  run_cmd->add_flag("--no-mirror", run.no_mirror, "simulate every rank of a node even when they mirror its first rank (to check that reduction)");

  ValidateOptions validate;
  auto* validate_cmd = app.add_subcommand("validate", "run scenarios with a published figure and compare");
  validate_cmd->add_option("paths", validate.paths, "scenario files or folders (default scenarios/calibration)");
  validate_cmd->add_flag("--json", validate.json, "the rows as a JSON array on stdout");
  validate_cmd->add_option("-j,--jobs", validate.jobs, "scenarios simulated at once, one process each (default 1)");

  CompareOptions compare;
  auto* compare_cmd = app.add_subcommand("compare", "compare the predictions of two runs (exit 3 if beyond tolerance)");
  compare_cmd->add_option("baseline", compare.baseline, "baseline summary.json or --out folder")->required();
  compare_cmd->add_option("current", compare.current, "current summary.json or --out folder")->required();
  compare_cmd->add_option("--tolerance-rel", compare.tolerance_rel, "allowed relative change per metric (default 0)");
  compare_cmd->add_option("--metric", compare.metrics, "compare only this metric (repeatable)");
  compare_cmd->add_flag("--only-beyond", compare.only_beyond, "list only the metrics beyond the tolerance");
  compare_cmd->add_flag("--json", compare.json, "the rows as a JSON array on stdout");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  check.overrides = overrides;
  run.overrides = overrides;
  if (!overrides.empty() && !check_cmd->parsed() && !run_cmd->parsed()) {
    spdlog::error("--set applies to scenarios (check, run) only");
    return kExitBadInput;
  }
  if (describe_cmd->parsed()) return describe_model_command(describe);
  if (topology_cmd->parsed()) return describe_topology_command(describe_topology);
  if (check_cmd->parsed()) return check_command(check);
  if (list_cmd->parsed()) return list_command(list);
  if (run_cmd->parsed()) return run_command(run);
  if (validate_cmd->parsed()) return validate_command(validate);
  if (compare_cmd->parsed()) return compare_command(compare);
  return kExitInternal;
}

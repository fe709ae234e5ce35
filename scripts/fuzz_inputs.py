#!/usr/bin/env python3
"""Robustness sweeps over the shipped scenarios (a tool, not a test: minutes, not seconds).

  scripts/fuzz_inputs.py mutate      every leaf of every scenario x 9 mutations through --set, `check` and `run`:
                                     each must exit 0 (a result) or 2 (a clear error), never crash or print
                                     "internal error"
  scripts/fuzz_inputs.py strategies  every strategy put into every scenario (replacing one of its family), run with
                                     and without it: crashes fail; accepted strategies whose metrics equal the run
                                     without them are listed as NOOP for a reader to judge (a uniform expert load
                                     that `balanced` cannot improve is a result; a strategy that cannot act is a
                                     bad input and should be an error)

Exit 1 when any case crashed. Options: --build DIR (default build), --skip SUBSTRING (repeatable; the 6144-NPU
and the slow Llama files are skipped by default), --timeout S per run (default 300).
"""
import argparse
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SKIP = ["6144", "tp8_coc", "llama2_70b_train_800t"]
# Params a strategy needs before it can be named at all.
REQUIRED_PARAMS = {"mtp": {"acceptance": [0.7]}, "hybrid_cp": {"ulysses_degree": 2}}


def leaves(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, f"{path}.{i}")
    else:
        yield path, node


MUTATIONS = ["0", "-1", "1e308", "0.5", "\"text\"", "null", "[]", "{}", "true"]


class Runner:
    def __init__(self, build, timeout):
        self.moesim = os.path.join(ROOT, build, "moesim")
        self.timeout = timeout
        self.crashes = []

    def run(self, args, out):
        subprocess.run(["rm", "-rf", out])
        cmd = [self.moesim] + args
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return "timeout", ""
        bad = r.returncode not in (0, 2) or "internal error" in r.stderr
        if bad:
            self.crashes.append((r.returncode, " ".join(cmd), r.stderr.strip()[-300:]))
        return r.returncode, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""


def metrics_of(out):
    try:
        with open(os.path.join(out, "summary.json")) as f:
            return json.dumps(json.load(f).get("metrics", {}), sort_keys=True)
    except (OSError, ValueError):
        return None


def scenarios(skip):
    files = sorted(glob.glob(os.path.join(ROOT, "scenarios/*.json")) +
                   glob.glob(os.path.join(ROOT, "scenarios/calibration/*.json")))
    return [os.path.relpath(f, ROOT) for f in files if not any(s in f for s in skip)]


def mutate(runner, files, out):
    cases = 0
    for f in files:
        with open(os.path.join(ROOT, f)) as handle:
            scenario = json.load(handle)
        for path, _ in leaves(scenario):
            for value in MUTATIONS:
                for command in ("check", "run"):
                    cases += 1
                    runner.run([command, f, "--quiet", "--out", out, "--set", f"{path}={value}"]
                               if command == "run" else [command, f, "--set", f"{path}={value}"], out)
    print(f"mutate: {cases} cases, {len(runner.crashes)} crashed")


def strategies(runner, files, out):
    catalog = json.loads(subprocess.run([runner.moesim, "list", "--json"], capture_output=True, text=True,
                                        cwd=ROOT).stdout)["strategies"]
    family = {s["name"]: s["family"] for s in catalog}
    noops = 0
    for f in files:
        with open(os.path.join(ROOT, f)) as handle:
            listed = json.load(handle).get("strategies", [])
        for name in family:
            if any(s["name"] == name for s in listed):
                continue
            rest = [s for s in listed if family.get(s["name"]) != family[name]]
            named = rest + [{"name": name, "params": REQUIRED_PARAMS.get(name, {})}]
            results = []
            for tag, chosen in (("with", named), ("without", rest)):
                rc, _ = runner.run(["run", f, "--quiet", "--out", f"{out}_{tag}", "--set",
                                    "strategies=" + json.dumps(chosen)], f"{out}_{tag}")
                results.append((rc, metrics_of(f"{out}_{tag}") if rc == 0 else None))
            if results[0][0] == 0 and results[1][0] == 0 and results[0][1] == results[1][1]:
                noops += 1
                print(f"NOOP {f} {name}" + (f" (in place of {[s['name'] for s in listed if s not in rest]})"
                                            if len(rest) < len(listed) else ""))
    print(f"strategies: {noops} accepted without effect, {len(runner.crashes)} crashed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["mutate", "strategies"])
    parser.add_argument("--build", default="build")
    parser.add_argument("--skip", action="append", default=None)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    runner = Runner(args.build, args.timeout)
    files = scenarios(DEFAULT_SKIP if args.skip is None else args.skip)
    out = f"/tmp/moesim_fuzz_{os.getpid()}"
    (mutate if args.mode == "mutate" else strategies)(runner, files, out)
    for rc, cmd, err in runner.crashes:
        print(f"CRASH exit {rc}: {cmd}\n  {err}")
    subprocess.run(["bash", "-c", f"rm -rf {out}*"])
    return 1 if runner.crashes else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Facts T8 check: the step-throughput gain the simulator predicts when the device's operator efficiencies are raised
the way Huawei's later operator work raised them on Pangu Ultra MoE (press, facts T8: FlashAttention fwd +50% /
bwd +30%, MatMul cube utilization +10%, vector ops 3x; together +15% overall throughput).

A ratio, independent of the absolute calibration: the same scenario runs twice, once on the shipped device file and
once on a temporary copy of it with the efficiencies scaled (the topology cannot be changed with --set, so the
script writes a temporary topology + device file and a scenario copy pointing at them). Both sides of a class
(compute and memory) are scaled by its factor, capped at 1.0 (an efficiency is a fraction of the roofline), so an
operator gets its speed-up whichever side bounds it, unless the cap binds. The attention class does not tell
forward from backward, so it gets the blended x1.40 (a FLOP-weighted blend with backward = 2 x forward would be
x1.36). "MatMul" is taken to cover both cube classes (matmul, grouped_matmul).

Usage: scripts/operator_gain_t8.py [SCENARIO] [--moesim build/moesim] [--keep DIR]
Default scenario: scenarios/ultra_moe_718b_train_6144.json (~2 min and ~1.5 GiB per run, two runs).
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Facts T8 factors per operator class (docs/validation.md "Operator gains (facts T8)").
T8_FACTORS = {"matmul": 1.10, "grouped_matmul": 1.10, "attention": 1.40, "vector": 3.0}


def scaled_device(device: dict, factors: dict) -> tuple[dict, list]:
    """A copy of `device` with each class's compute and memory efficiency scaled (capped at 1); the caps that bound."""
    out = json.loads(json.dumps(device))
    capped = []
    for op_class, factor in factors.items():
        for side in ("compute", "memory"):
            entry = out["efficiency"][op_class][side]
            wanted = entry["value"] * factor
            entry["value"] = min(1.0, wanted)
            entry["estimate"] = True
            entry["reason"] = f"facts T8 what-if: x{factor} of the shipped value, capped at 1"
            entry.pop("source", None)
            if wanted > 1.0:
                capped.append(f"{op_class}.{side}: x{factor} of {wanted / factor:.3g} capped at 1.0 "
                              f"(x{1.0 / (wanted / factor):.3g})")
    out["name"] += " (facts T8 operator gains)"
    return out, capped


def run(moesim: str, scenario: Path, out_dir: Path) -> dict:
    subprocess.run([moesim, "run", str(scenario), "--out", str(out_dir), "--quiet"], check=True)
    return json.loads((out_dir / "summary.json").read_text())["metrics"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios/ultra_moe_718b_train_6144.json"))
    parser.add_argument("--moesim", default=str(ROOT / "build/moesim"))
    parser.add_argument("--keep", help="write the temporary files and run outputs here instead of a temp folder")
    args = parser.parse_args()

    scenario_path = Path(args.scenario).resolve()
    scenario = json.loads(scenario_path.read_text())
    topology_path = (scenario_path.parent / scenario["topology"]).resolve()
    topology = json.loads(topology_path.read_text())
    device_path = (topology_path.parent / topology["device_file"]).resolve()
    device, capped = scaled_device(json.loads(device_path.read_text()), T8_FACTORS)

    work = Path(args.keep or tempfile.mkdtemp(prefix="moesim_t8_"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "device_t8.json").write_text(json.dumps(device, indent=2))
    topology["device_file"] = str(work / "device_t8.json")
    (work / "topology_t8.json").write_text(json.dumps(topology, indent=2))
    for key in ("model",):
        scenario[key] = str((scenario_path.parent / scenario[key]).resolve())
    scenario["topology"] = str(work / "topology_t8.json")
    (work / "scenario_t8.json").write_text(json.dumps(scenario, indent=2))

    base = run(args.moesim, scenario_path, work / "out_base")
    gained = run(args.moesim, work / "scenario_t8.json", work / "out_t8")
    print(f"scenario: {scenario_path.relative_to(ROOT) if scenario_path.is_relative_to(ROOT) else scenario_path}")
    print(f"factors: {T8_FACTORS} (compute and memory side, capped at 1)")
    for line in capped:
        print(f"  cap: {line}")
    print(f"{'':14}{'shipped':>14}{'T8 factors':>14}")
    for key in ("step_time_s", "tokens_per_s", "mfu"):
        print(f"{key:14}{base[key]:>14.6g}{gained[key]:>14.6g}")
    gain = gained["tokens_per_s"] / base["tokens_per_s"] - 1.0
    print(f"predicted overall throughput gain: {gain * 100:+.1f}% (facts T8, press: +15%)")
    print(f"files: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

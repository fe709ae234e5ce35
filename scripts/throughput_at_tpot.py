#!/usr/bin/env python3
"""Decode throughput of a static inference scenario at a TPOT target: the largest batch whose simulated TPOT meets
the target (bisection over `inference.batch_size`, one `moesim run` per probe), and its tok/s per rank.

Layout comparisons at a fixed batch understate what a serving operator sees: a deployment runs at the largest batch
its latency target allows ([P] sizes the 300I Duo for TPOT 100 ms and the 800I A2 for 50 ms, facts P15), and since
the decode step has a large batch-independent part (weight reads), a few % of step time move the batch that fits
by much more. Usage:

  scripts/throughput_at_tpot.py SCENARIO --tpot-ms 100 [--set KEY=VALUE ...] [--max-batch 1024] [--moesim PATH]
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(moesim, scenario, sets, batch):
    with tempfile.TemporaryDirectory() as out:
        args = [moesim, "run", scenario, "--out", out, "--quiet", "--set", f"inference.batch_size={batch}"]
        for s in sets:
            args += ["--set", s]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"moesim failed at batch {batch} (exit {done.returncode}):\n{done.stderr}")
        return json.loads((Path(out) / "summary.json").read_text())["metrics"]


def main():
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario")
    parser.add_argument("--tpot-ms", type=float, required=True)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--max-batch", type=int, default=1024)
    parser.add_argument("--moesim", default=str(root / "build" / "moesim"))
    a = parser.parse_args()
    low, high = 0, a.max_batch + 1  # TPOT(low) meets the target (0: nothing yet), TPOT(high) does not
    best = None
    while high - low > 1:
        mid = (low + high) // 2
        m = run(a.moesim, a.scenario, a.sets, mid)
        if m["tpot_ms"] <= a.tpot_ms:
            low, best = mid, m
        else:
            high = mid
    if best is None:
        sys.exit(f"even batch 1 misses TPOT {a.tpot_ms} ms")
    print(json.dumps({"batch": low, "tpot_ms": best["tpot_ms"],
                      "throughput_tokens_per_s": best["throughput_tokens_per_s"],
                      "throughput_tokens_per_s_per_device": best["throughput_tokens_per_s_per_device"]}))


if __name__ == "__main__":
    main()

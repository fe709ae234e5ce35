#!/usr/bin/env bash
# Training-step benchmark (docs/performance.md "Ultra MoE 718B training step"): wall time and peak RSS of
# `moesim run` on the training scenarios, with every engine reduction on and with mirrored ranks off (--no-mirror),
# one run at a time. Usage: bench/training_bench.sh [BUILD_DIR] [quick|full]
#   quick (default): Pro MoE baseline / optimized, the 4K Ultra MoE scenario and the 6144-NPU calibration file.
#   full: also the calibration file with --no-mirror, with a Zipf 0.5 expert load (block-shift mirroring) and the
#   same with --no-mirror, and the Pro MoE optimized file with a Zipf 1.0 load, with and without mirroring.
# Prints one line per run: label, process wall, engine wall, ops, SimGrid events, mirrored ranks, peak RSS, step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
mode="${2:-quick}"
moesim="$build/moesim"
if [[ ! -x "$moesim" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target moesim -j2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

bench() {  # label scenario [run options ...]
  local label="$1" scenario="$2"
  shift 2
  local start end
  start=$(date +%s.%N)
  (cd "$root" && "$moesim" run "$scenario" --out "$out" --quiet "$@" >/dev/null)
  end=$(date +%s.%N)
  python3 - "$out/summary.json" "$label" "$(echo "$end - $start" | bc)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m, sim = s["metrics"], s["sim"]
print(f"{sys.argv[2]:<40} wall {float(sys.argv[3]):6.1f} s  engine {sim['simulate_wall_s']:6.1f} s  "
      f"ops {sim['ops'] / 1e6:5.2f} M  events {sim['events'] / 1e6:6.2f} M  mirrored {sim['mirrored_ranks']:>5}  "
      f"RSS {sim['peak_rss_mib'] / 1024:4.2f} GiB  step {m['step_time_s']:.6f} s")
PY
}

calibration=scenarios/calibration/ultra_moe_718b_train_6144.json
bench "Pro MoE baseline (4080 NPUs)" scenarios/calibration/pro_moe_72b_train_baseline.json
bench "Pro MoE optimized (4080 NPUs)" scenarios/calibration/pro_moe_72b_train_optimized.json
bench "Ultra MoE 4K (6144 NPUs)" scenarios/ultra_moe_718b_train_6144.json
bench "Ultra MoE calibration (6144 NPUs)" "$calibration"
if [[ "$mode" == "full" ]]; then
  bench "Ultra MoE calibration, --no-mirror" "$calibration" --no-mirror
  zipf05='training.expert_load={"distribution": "zipf", "exponent": 0.5}'
  zipf10='training.expert_load={"distribution": "zipf", "exponent": 1.0}'
  bench "Ultra MoE calibration, Zipf 0.5" "$calibration" --set "$zipf05"
  bench "Ultra MoE calibration, Zipf 0.5, --no-mirror" "$calibration" --set "$zipf05" --no-mirror
  bench "Pro MoE optimized, Zipf 1.0" scenarios/calibration/pro_moe_72b_train_optimized.json --set "$zipf10"
  bench "Pro MoE optimized, Zipf 1.0, --no-mirror" scenarios/calibration/pro_moe_72b_train_optimized.json \
    --set "$zipf10" --no-mirror
fi

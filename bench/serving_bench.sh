#!/usr/bin/env bash
# Serving benchmark (docs/performance.md "Serving"): wall time of `moesim run` on serving scenarios, one run at a
# time. Usage: bench/serving_bench.sh [BUILD_DIR] [REPEATS]
# Prints one line per run: scenario, variant, requests, total wall, profile (engine) wall, serving-loop wall, steps.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
repeats="${2:-3}"
moesim="$build/moesim"
if [[ ! -x "$moesim" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target moesim -j2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

bench() {  # label scenario [--set ...]
  local label="$1" scenario="$2"
  shift 2
  for ((i = 1; i <= repeats; i++)); do
    local start end
    start=$(date +%s.%N)
    (cd "$root" && "$moesim" run "$scenario" --out "$out" --quiet "$@" >/dev/null)
    end=$(date +%s.%N)
    python3 - "$out/summary.json" "$label" "$(echo "$end - $start" | bc)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m, sim = s["metrics"], s["sim"]
print(f"{sys.argv[2]:<34} requests {m['requests']:>6}  process wall {float(sys.argv[3]):6.2f} s  "
      f"profile {sim['profile_wall_s']:5.2f} s ({m['profile']['samples']} samples)  "
      f"loop {sim['serving_loop_wall_s']:5.2f} s ({m['steps']} steps)  peak RSS {sim['peak_rss_mib']:.0f} MiB")
PY
  done
}

poisson=scenarios/pro_moe_800i_a2_serving_poisson.json
bench "poisson 10k (shipped)" "$poisson"
bench "poisson 10k, chunked prefill" "$poisson" --set serving.scheduler.chunked_prefill=true \
  --set serving.scheduler.max_tokens_per_step=2048
bench "poisson 10k, overloaded (48/s)" "$poisson" --set serving.workload.arrival.rate_per_s=48
bench "poisson 100k" "$poisson" --set serving.workload.requests=100000
bench "P/D 10k" scenarios/pro_moe_800i_a2_serving_pd.json --set serving.workload.requests=10000

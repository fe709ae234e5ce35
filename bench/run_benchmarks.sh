#!/usr/bin/env bash
# Engine benchmarks (docs/performance.md). Usage: bench/run_benchmarks.sh [BUILD_DIR] [quick|full]
#   quick (default): node, 64-rank all-to-all-v, training-like graph at 512 and 1536 ranks, determinism check.
#   full: also 6144 ranks (768 nodes x 8), direct and hierarchical EP, which takes minutes.
# Prints one JSON line per run (wall time, events, peak RSS, makespan). Runs one simulation at a time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-bench}"
mode="${2:-quick}"
if [[ ! -x "$build/moesim_engine_bench" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target moesim_engine_bench -j2
fi
bench="$build/moesim_engine_bench"

"$bench" node
"$bench" a2a --ranks 64 --repeats 1
for ranks in 512 1536; do
  "$bench" train --ranks "$ranks" --layers 2 --ops 25 --hierarchical-ep
  "$bench" train --ranks "$ranks" --layers 2 --ops 25
done
for ops in 10 50; do  # ops per rank: 3 x layers x 2 x ops
  "$bench" train --ranks 1536 --layers 2 --ops "$ops" --hierarchical-ep
done
"$bench" train --ranks 1536 --layers 2 --ops 25 --hierarchical-ep --no-coarsen
for ranks in 512 1536; do  # mirrored ranks off: what the figures above cost without that reduction
  "$bench" train --ranks "$ranks" --layers 2 --ops 25 --hierarchical-ep --no-mirror
done
if [[ "$mode" == "full" ]]; then
  "$bench" train --ranks 6144 --layers 2 --ops 25 --hierarchical-ep
  "$bench" train --ranks 6144 --layers 2 --ops 25
  "$bench" train --ranks 6144 --layers 2 --ops 25 --hierarchical-ep --no-mirror
  "$bench" train --ranks 6144 --layers 2 --ops 25 --no-mirror
fi

# Determinism: two processes, same graph, byte-identical op timings (17 significant digits).
a="$(mktemp)"; b="$(mktemp)"
"$bench" train --ranks 64 --layers 1 --ops 4 --skewed --timings | tail -n +2 >"$a"
"$bench" train --ranks 64 --layers 1 --ops 4 --skewed --timings | tail -n +2 >"$b"
if cmp -s "$a" "$b"; then echo "determinism: identical ($(wc -l <"$a") op timings)"; else echo "determinism: DIFFERENT"; exit 1; fi
rm -f "$a" "$b"

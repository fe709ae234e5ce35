#!/bin/bash
# Memory and undefined-behaviour check (a tool, not a test: ~10 min to build on 2 cores, ~10 min to run).
# Builds moesim with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and runs every shipped scenario
# (the 6144-NPU files through `check`), a set of feature combinations on small slices, and `validate`. Prints each
# run that reports a sanitizer error or exits other than 0 (a result) or 2 (a bad input); exit 1 if any did.
#   scripts/sanitize.sh               build, then run
#   scripts/sanitize.sh --no-build    run with the binary already in build-asan/
set -u
cd "$(dirname "$0")/.."
BUILD=build-asan
if [ "${1:-}" != "--no-build" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -O1" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null || exit 1
  ninja -C "$BUILD" moesim >/dev/null || exit 1
fi
BIN="$BUILD/moesim"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
runs=0
problems=0
go() {
  runs=$((runs + 1))
  local err rc
  err=$(timeout 900 "$BIN" "$@" 2>&1 >/dev/null)
  rc=$?
  if grep -q "ERROR: AddressSanitizer\|runtime error:" <<<"$err"; then
    problems=$((problems + 1))
    echo "=== sanitizer (exit $rc): $*"
    grep -A12 "ERROR: AddressSanitizer\|runtime error:" <<<"$err" | head -30
  elif [ $rc -ne 0 ] && [ $rc -ne 2 ]; then
    problems=$((problems + 1))
    echo "=== exit $rc: $*"
    tail -5 <<<"$err"
  fi
}
for f in scenarios/*.json scenarios/calibration/*.json; do
  case $f in
    *6144*) go check "$f" ;;
    *) go run --quiet "$f" --out "$OUT/run" ;;
  esac
done
U=(scenarios/calibration/ultra_moe_718b_train_6144.json --set ranks=64 --set parallel.pp=2 --set parallel.dp=4
   --set training.global_batch_size=32 --out "$OUT/run")
go run --quiet "${U[@]}"
go run --quiet "${U[@]}" --set training.steps=2 \
  --set 'training.expert_load={"distribution":"zipf","exponent":0.5,"sampled":true,"micro_batch_sigma":0.3}'
go run --quiet "${U[@]}" --set 'training.expert_load={"distribution":"zipf","exponent":0.5,"micro_batch_sigma":0.3}' \
  --set 'strategies=[{"name":"alltoallv"},{"name":"balanced_moe","params":{"hot_experts":2}}]'
go run --quiet "${U[@]}" --set 'training.expert_load={"distribution":"zipf","exponent":0.5}' --set training.steps=3 \
  --set 'strategies=[{"name":"hierarchical_ep"},{"name":"adaptive_pipe"},{"name":"balanced","params":{"mode":"dynamic"}}]'
go run --quiet "${U[@]}" --set 'training.expert_load={"distribution":"zipf","exponent":0.5}' \
  --set 'strategies=[{"name":"stage_balance"},{"name":"hierarchical_ep"}]'
go run --quiet "${U[@]}" --set 'training.documents={"mean_tokens":2048,"sigma":1.0}' \
  --set 'strategies=[{"name":"sequence_balance"},{"name":"hierarchical_ep"},{"name":"adaptive_pipe"}]'
# block-shift mirrored ranks (two EP groups per stage under a skewed load; loopback flows of the expert-DP pairs)
go run --quiet scenarios/calibration/ultra_moe_718b_train_6144.json --set ranks=128 --set parallel.pp=2 \
  --set parallel.dp=8 --set training.global_batch_size=64 --out "$OUT/run" \
  --set 'training.expert_load={"distribution":"zipf","exponent":1.0}' \
  --set 'strategies=[{"name":"hierarchical_ep"},{"name":"adaptive_pipe"}]'
go run --quiet scenarios/calibration/pro_moe_72b_train_optimized.json --out "$OUT/run" \
  --set 'training.expert_load={"distribution":"zipf","exponent":1.0}'
go check scenarios/calibration/pro_moe_72b_train_optimized.json --set 'strategies=[{"name":"stage_balance"}]' \
  --set 'training.expert_load={"distribution":"zipf","exponent":1.0}'
P=(scenarios/calibration/pro_moe_72b_train_baseline.json --set ranks=96 --set parallel.dp=2
   --set training.global_batch_size=24 --set training.seq_len=32768 --out "$OUT/run"
   --set 'training.documents={"mean_tokens":4096,"sigma":1.0,"cp_split":"document"}')
go run --quiet "${P[@]}" --set 'strategies=[{"name":"alltoallv"},{"name":"ring_attention"}]'
go run --quiet "${P[@]}" --set 'strategies=[{"name":"alltoallv"},{"name":"hybrid_cp","params":{"ulysses_degree":2}}]'
for schedule in dualpipev zbv interleaved_1f1b zero_bubble; do
  go run --quiet scenarios/llama2_70b_train_64.json --set parallel.vpp=2 --out "$OUT/run" --set "strategies=[
    {\"name\":\"$schedule\"}, {\"name\":\"selective_recompute_swap\",\"params\":{\"modules\":{\"full\":\"recompute\",
    \"ffn_activation\":\"recompute\"},\"full_layers\":[[2,2,1,1],[5,1,1,1]],\"full_method\":\"uniform\",
    \"recompute_layers\":[[1,2,3,4],[0,0,0,0]]}}]"
done
go run --quiet scenarios/llama2_70b_train_64.json --set parallel.vpp=2 --out "$OUT/run" \
  --set 'strategies=[{"name":"selective_recompute_swap","params":{"mode":"auto","headroom_gib":30}}]'
go validate -j 1 scenarios/calibration
echo "$runs runs, $problems with a problem"
[ "$problems" -eq 0 ]

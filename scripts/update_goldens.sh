#!/usr/bin/env bash
# Regenerates tests/golden/*.json from the current build after a deliberate modelling change (each file keeps its
# scenario, --set overrides and tolerance; the predictions are replaced). Review `git diff tests/golden` before
# committing: it shows every prediction that moved.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
cmake --build "$build_dir" -j"$(nproc)"
MOESIM_UPDATE_GOLDENS=1 "$build_dir/tests/test_app" "golden scenarios*"
git --no-pager diff --stat -- tests/golden || true

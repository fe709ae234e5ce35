#!/usr/bin/env bash
# README command 1: install what is missing, build build/moesim, run the default scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/moesim run scenarios/pro_moe_800i_a2_decode.json --out out/default

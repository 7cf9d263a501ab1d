#!/usr/bin/env bash
# Called by scripts/gpu-check.sh as `bench/run.sh BUILD_DIR`: the benchmark with the kiln CLI of that build.
# Extra arguments for run_bench.py: after BUILD_DIR, or in $KILN_BENCH_ARGS (e.g. "--quick").
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
# shellcheck disable=SC2086
exec python3 bench/run_bench.py --kiln "$BUILD/kiln" ${KILN_BENCH_ARGS:-} "$@"

#!/usr/bin/env bash
# README's second command: install, build everything (CUDA code included when nvcc exists), run every test.
# GPU tests (CTest label `gpu`) run only where a GPU is visible; elsewhere they are listed as skipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
build=$(bash "$root/scripts/configure.sh" "${KILN_BUILD_DIR:-$root/build}")
jobs=$(nproc)
cmake --build "$build" -j "$jobs"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  ctest --test-dir "$build" -j "$jobs" --output-on-failure
else
  skipped=$(ctest --test-dir "$build" -N -L gpu | grep -c "Test *#" || true)
  echo "=== SKIPPED: $skipped GPU test(s) (label 'gpu'): no GPU on this machine; scripts/gpu-check.sh runs them ==="
  ctest --test-dir "$build" -j "$jobs" -LE gpu --output-on-failure
  echo "=== SKIPPED: $skipped GPU test(s) (label 'gpu'): no GPU on this machine ==="
fi
# The Python package (tests/python, pytest) on the module this build put in $build/python; cases marked `gpu` are
# skipped with their reason (-rs) where no GPU is visible.
if [ ! -d "$build/python/kiln" ]; then
  echo "[test] $build/python/kiln is missing: the Python package was not built (is nanobind installed?)"; exit 1
fi
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
  echo "=== SKIPPED: pytest cases marked 'gpu' (tests/python): no GPU on this machine; they run on the GPU machine ==="
fi
KILN_PYTHON_DIR="$build/python" python3 -m pytest "$root/tests/python" -q -rs -p no:cacheprovider

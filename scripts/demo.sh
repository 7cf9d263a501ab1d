#!/usr/bin/env bash
# README's first command: install, build the kiln CLI, make the bundled example (the seed's ReID-shaped CNN with a
# dynamic batch), build an engine with the profile 1/16/64, run it at batch 1, 7 and 64, and compare with
# onnxruntime. Runs on the GPU when one is visible, else on the CPU backend.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
build=$(bash "$root/scripts/configure.sh" "${KILN_BUILD_DIR:-$root/build}")
cmake --build "$build" -j "$(nproc)" --target kiln_cli
device=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=cuda; fi
python3 "$root/scripts/demo.py" --kiln "$build/kiln" --device "$device" --work "$build/demo" "$@"

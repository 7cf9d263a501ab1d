#!/usr/bin/env bash
# The committed tree (HEAD) as build-snap/, for a GPU-machine call: the device tool copies the working tree, and
# uncommitted files of work in progress must not reach it. Then, in the device call (carry ["build-snap"]):
#   cd build-snap && bash scripts/gpu-check.sh /tmp/b
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build-snap
mkdir build-snap
git archive HEAD | tar -x -C build-snap
git rev-parse --short HEAD > build-snap/SNAPSHOT
echo "build-snap/ = $(cat build-snap/SNAPSHOT) ($(du -sh build-snap | cut -f1))"

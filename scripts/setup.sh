#!/usr/bin/env bash
# Installs what kiln needs to build and test: Debian packages (compilers, protobuf + the ONNX schema, BLAS, CLI11,
# GoogleTest) and the pinned Python test tools. Safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
pkgs=(build-essential cmake ninja-build ccache python3 python3-pip protobuf-compiler libprotobuf-dev libonnx-dev
      libcli11-dev libopenblas-dev libgtest-dev nlohmann-json3-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
# Test references come from onnxruntime; versions pinned so every machine generates the same suite.
python3 -m pip install -q --disable-pip-version-check -r "$(dirname "$0")/../requirements-test.txt" 2>&1 \
  | grep -v "Running pip as the 'root' user" || true
python3 -c "import onnx, onnxruntime, numpy" || { echo "[setup] python test tools are missing"; exit 1; }

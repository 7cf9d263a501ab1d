#!/usr/bin/env bash
# Installs what kiln needs to build and test: Debian packages (compilers, protobuf + the ONNX schema, BLAS, CLI11,
# GoogleTest) and the pinned Python test tools. Safe to run again. Needs root (or sudo) for apt-get.
# On a machine without network access (the GPU machine) it keeps what is installed and checks that it suffices.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
pkgs=(build-essential cmake ninja-build ccache python3 python3-pip protobuf-compiler libprotobuf-dev libonnx-dev
      libcli11-dev libopenblas-dev libgtest-dev nlohmann-json3-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# KILN_OFFLINE=1 (the GPU machine, which reaches no registry) skips installing and only checks.
if [ ${#missing[@]} -gt 0 ] && [ "${KILN_OFFLINE:-0}" != 1 ]; then
  echo "[setup] apt-get install ${missing[*]}"
  if ! { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"; }; then
    echo "[setup] warning: apt-get failed (no network?); continuing with what is installed"
  fi
fi
# Test references come from onnxruntime; versions pinned so every machine generates the same suite.
pinned_ok=$(python3 - "$root/requirements-test.txt" <<'PY' 2>/dev/null || echo no
import sys, importlib.metadata as md
want = dict(l.strip().split("==") for l in open(sys.argv[1]) if "==" in l)
print("yes" if all(md.version(k) == v for k, v in want.items()) else "no")
PY
)
if [ "$pinned_ok" != yes ] && [ "${KILN_OFFLINE:-0}" != 1 ]; then
  python3 -m pip install -q --disable-pip-version-check -r "$root/requirements-test.txt" 2>&1 \
    | grep -v "Running pip as the 'root' user" || true
fi
for tool in cmake protoc; do command -v $tool >/dev/null || { echo "[setup] missing: $tool"; exit 1; }; done
python3 -c "import onnx, onnxruntime, numpy" || { echo "[setup] python test tools (onnx, onnxruntime, numpy) are missing"; exit 1; }
python3 -c "import onnx, onnxruntime; print('[setup] onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"

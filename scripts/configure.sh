#!/usr/bin/env bash
# Configures a build tree (default: build/). The CUDA backend is compiled whenever nvcc is present (sm_90 first),
# so CI compiles every CUDA file even without a GPU.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
cuda=OFF
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda=ON
  export PATH="/usr/local/cuda/bin:$PATH"
fi
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_WITH_CUDA=$cuda \
  -DKILN_CUDA_ARCHITECTURES="${KILN_CUDA_ARCHITECTURES:-90}" "${launcher[@]}" >/dev/null
echo "$build"

// What GPU tests share: whether a CUDA device is present (tests skip visibly without one; CI has none), and random
// non-zero float32 inputs. Header-only; only *_gpu_test.cpp files include it (they link the CUDA runtime).
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/types.h"

namespace kiln::test {

inline bool haveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

/// float32 values uniform in [-scale, scale], none within 1% of zero (so relative errors stay meaningful).
inline Tensor randomNonZero(Dims dims, std::mt19937& rng, float scale) {
  Tensor t = *Tensor::allocate(DataType::kFloat32, std::move(dims));
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    float v = dist(rng);
    if (std::fabs(v) < 1e-2f) v = 0.5f;
    t.dataAs<float>()[i] = v * scale;
  }
  return t;
}

}  // namespace kiln::test

#define REQUIRE_GPU()          \
  if (!::kiln::test::haveGpu()) \
  GTEST_SKIP() << "no CUDA device: GPU tests run on the GPU machine (scripts/gpu-check.sh)"

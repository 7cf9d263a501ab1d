// MaxPool and AveragePool: one thread per output element, float32 accumulation.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/pool.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T> __global__ void poolKernel(PoolArgs a, int64_t count) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE(i, count) {
    int64_t o[3] = {0, 0, 0};
    int64_t rest = i;
    for (int k = a.spatialRank - 1; k >= 0; --k) {
      o[k] = rest % a.out[k];
      rest /= a.out[k];
    }
    const int64_t plane = rest;
    int64_t planeSize = 1;
    for (int k = 0; k < a.spatialRank; ++k) planeSize *= a.in[k];
    const T* base = x + plane * planeSize;
    float best = -INFINITY, sum = 0.f;
    int64_t valid = 0, padded = 0;
    const int64_t k0 = a.spatialRank > 0 ? a.kernel[0] : 1, k1 = a.spatialRank > 1 ? a.kernel[1] : 1,
                  k2 = a.spatialRank > 2 ? a.kernel[2] : 1;
    for (int64_t j0 = 0; j0 < k0; ++j0)
      for (int64_t j1 = 0; j1 < k1; ++j1)
        for (int64_t j2 = 0; j2 < k2; ++j2) {
          const int64_t j[3] = {j0, j1, j2};
          bool inside = true, inPadded = true;
          int64_t offset = 0;
          for (int k = 0; k < a.spatialRank; ++k) {
            const int64_t p = o[k] * a.stride[k] - a.padBegin[k] + j[k] * a.dilation[k];
            inside = inside && p >= 0 && p < a.in[k];
            inPadded = inPadded && p < a.in[k] + a.padEnd[k];
            offset = offset * a.in[k] + p;
          }
          if (inPadded) ++padded;
          if (!inside) continue;
          const float v = load(base, offset);
          best = fmaxf(best, v);
          sum += v;
          ++valid;
        }
    if (a.isMax) store(y, i, best);
    else store(y, i, sum / static_cast<float>(a.countIncludePad ? padded : (valid ? valid : 1)));
  }
}

}  // namespace

cudaError_t launchPool(const PoolArgs& a, DataType dtype, cudaStream_t stream) {
  int64_t count = a.planes;
  for (int k = 0; k < a.spatialRank; ++k) count *= a.out[k];
  if (count == 0) return cudaSuccess;
  const bool known = dispatchFloat(dtype, [&](auto t) {
    poolKernel<decltype(t)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

// MaxPool and AveragePool: one thread per output element (NCHW) or per group of channels of one output pixel (NHWC,
// 16-byte loads when C allows); GlobalAveragePool/GlobalMaxPool over NHWC with threads along C. float32 accumulation.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/pool.h"

#include <algorithm>

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

/// V consecutive channels, loaded and stored as one (16 bytes for float16 x 8 or float32 x 4).
template <typename T, int V> struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V> __global__ void poolNhwcKernel(PoolArgs a, int64_t count) {
  using P = Pack<T, V>;
  const P* x = static_cast<const P*>(a.x);
  P* y = static_cast<P*>(a.y);
  const int64_t packs = a.channels / V;
  KILN_GRID_STRIDE(i, count) {
    const int64_t cp = i % packs;
    int64_t rest = i / packs;
    const int64_t ow = rest % a.out[1];
    rest /= a.out[1];
    const int64_t oh = rest % a.out[0];
    const int64_t n = rest / a.out[0];
    float best[V], sum[V];
#pragma unroll
    for (int v = 0; v < V; ++v) best[v] = -INFINITY, sum[v] = 0.f;
    int64_t valid = 0, padded = 0;
    const int64_t h0 = oh * a.stride[0] - a.padBegin[0], w0 = ow * a.stride[1] - a.padBegin[1];
    for (int64_t j0 = 0; j0 < a.kernel[0]; ++j0) {
      const int64_t h = h0 + j0 * a.dilation[0];
      for (int64_t j1 = 0; j1 < a.kernel[1]; ++j1) {
        const int64_t w = w0 + j1 * a.dilation[1];
        if (h < a.in[0] + a.padEnd[0] && w < a.in[1] + a.padEnd[1]) ++padded;
        if (h < 0 || h >= a.in[0] || w < 0 || w >= a.in[1]) continue;
        const P p = x[((n * a.in[0] + h) * a.in[1] + w) * packs + cp];
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float f = convert<float>(p.v[v]);
          best[v] = fmaxf(best[v], f);
          sum[v] += f;
        }
        ++valid;
      }
    }
    const float divisor = static_cast<float>(a.countIncludePad ? padded : (valid ? valid : 1));
    P r;
#pragma unroll
    for (int v = 0; v < V; ++v) r.v[v] = convert<T>(a.isMax ? best[v] : sum[v] / divisor);
    y[i] = r;  // output (n, oh, ow, cp * V) sits at i * V: channels are innermost in both
  }
}

constexpr int kLanes = 32, kRows = 8;  // threads along channel packs x threads along H*W

template <typename T, int V> __global__ void globalPoolNhwcKernel(GlobalPoolNhwcArgs a) {
  using P = Pack<T, V>;
  __shared__ float partial[kRows][V][kLanes];
  const int64_t packs = a.channels / V;
  const int64_t cp = blockIdx.x * static_cast<int64_t>(kLanes) + threadIdx.x;
  for (int64_t n = blockIdx.y; n < a.batch; n += gridDim.y) {
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = a.isMax ? -INFINITY : 0.f;
    if (cp < packs) {
      const P* x = static_cast<const P*>(a.x) + n * a.spatial * packs + cp;
      for (int64_t s = threadIdx.y; s < a.spatial; s += kRows) {
        const P p = x[s * packs];
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float f = convert<float>(p.v[v]);
          acc[v] = a.isMax ? fmaxf(acc[v], f) : acc[v] + f;
        }
      }
    }
#pragma unroll
    for (int v = 0; v < V; ++v) partial[threadIdx.y][v][threadIdx.x] = acc[v];
    __syncthreads();
    if (threadIdx.y == 0 && cp < packs) {
      P r;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        float total = partial[0][v][threadIdx.x];
        for (int row = 1; row < kRows; ++row) {
          const float f = partial[row][v][threadIdx.x];
          total = a.isMax ? fmaxf(total, f) : total + f;
        }
        r.v[v] = convert<T>(a.isMax ? total : total / static_cast<float>(a.spatial));
      }
      static_cast<P*>(a.y)[n * packs + cp] = r;
    }
    __syncthreads();
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename T> void launchPoolNhwcTyped(const PoolArgs& a, cudaStream_t stream) {
  constexpr int kWide = 16 / sizeof(T);
  const int64_t pixels = a.planes * a.out[0] * a.out[1];
  if (a.channels % kWide == 0 && aligned16(a.x) && aligned16(a.y)) {
    const int64_t count = pixels * (a.channels / kWide);
    poolNhwcKernel<T, kWide><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  } else {
    const int64_t count = pixels * a.channels;
    poolNhwcKernel<T, 1><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  }
}

template <typename T, int V> void launchGlobalNhwc(const GlobalPoolNhwcArgs& a, cudaStream_t stream) {
  const int64_t packs = a.channels / V;
  const dim3 block(kLanes, kRows);
  const dim3 grid(static_cast<unsigned int>((packs + kLanes - 1) / kLanes),
                  static_cast<unsigned int>(std::min<int64_t>(a.batch, 65535)));
  globalPoolNhwcKernel<T, V><<<grid, block, 0, stream>>>(a);
}

}  // namespace

cudaError_t launchPool(const PoolArgs& a, DataType dtype, cudaStream_t stream) {
  int64_t count = a.planes;
  for (int k = 0; k < a.spatialRank; ++k) count *= a.out[k];
  if (a.channelsLast) count *= a.channels;
  if (count == 0) return cudaSuccess;
  if (a.channelsLast && a.spatialRank != 2) return cudaErrorInvalidValue;
  const bool known = dispatchFloat(dtype, [&](auto t) {
    if (a.channelsLast) launchPoolNhwcTyped<decltype(t)>(a, stream);
    else poolKernel<decltype(t)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchGlobalPoolNhwc(const GlobalPoolNhwcArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.batch == 0 || a.channels == 0) return cudaSuccess;
  const bool known = dispatchFloat(dtype, [&](auto t) {
    using T = decltype(t);
    constexpr int kWide = 16 / sizeof(T);
    if (a.channels % kWide == 0 && aligned16(a.x) && aligned16(a.y)) launchGlobalNhwc<T, kWide>(a, stream);
    else launchGlobalNhwc<T, 1>(a, stream);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

// MaxPool and AveragePool: one thread per output element (NCHW) or per group of channels of one output pixel (NHWC,
// 16-, 8- or 4-byte loads as C allows); GlobalAveragePool/GlobalMaxPool over NHWC with threads along C. float32 accumulation.
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

/// NHWC MaxPool/AveragePool: each thread produces V consecutive channels of one output pixel with one V-wide load
/// per window tap and one V-wide store. I is the index type: int32 when every index fits (most engines), which
/// saves the 64-bit divisions that dominate the index math. NaN handling is fmaxf's, as in the NCHW kernel and
/// the CPU reference's std::max with the running maximum first: a NaN tap is skipped.
template <typename T, int V, typename I> __global__ void poolNhwcKernel(PoolArgs a, I count) {
  using P = Pack<T, V>;
  const P* x = static_cast<const P*>(a.x);
  P* y = static_cast<P*>(a.y);
  const I packs = static_cast<I>(a.channels / V);
  const I outH = static_cast<I>(a.out[0]), outW = static_cast<I>(a.out[1]);
  const I inH = static_cast<I>(a.in[0]), inW = static_cast<I>(a.in[1]);
  const I kH = static_cast<I>(a.kernel[0]), kW = static_cast<I>(a.kernel[1]);
  const I sH = static_cast<I>(a.stride[0]), sW = static_cast<I>(a.stride[1]);
  const I dH = static_cast<I>(a.dilation[0]), dW = static_cast<I>(a.dilation[1]);
  const I endH = inH + static_cast<I>(a.padEnd[0]), endW = inW + static_cast<I>(a.padEnd[1]);
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I cp = i % packs;
    I rest = i / packs;
    const I ow = rest % outW;
    rest /= outW;
    const I oh = rest % outH;
    const I n = rest / outH;
    float best[V], sum[V];
#pragma unroll
    for (int v = 0; v < V; ++v) best[v] = -INFINITY, sum[v] = 0.f;
    I valid = 0, padded = 0;
    const I h0 = oh * sH - static_cast<I>(a.padBegin[0]), w0 = ow * sW - static_cast<I>(a.padBegin[1]);
    const P* plane = x + n * inH * inW * packs + cp;
    for (I j0 = 0; j0 < kH; ++j0) {
      const I h = h0 + j0 * dH;
      for (I j1 = 0; j1 < kW; ++j1) {
        const I w = w0 + j1 * dW;
        if (h < endH && w < endW) ++padded;
        if (h < 0 || h >= inH || w < 0 || w >= inW) continue;
        const P p = plane[(h * inW + w) * packs];
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
bool alignedTo(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

/// Launches the V-wide NHWC kernel when C and both pointers allow V-wide accesses; false otherwise.
template <typename T, int V> bool launchPoolNhwcWidth(const PoolArgs& a, cudaStream_t stream) {
  if (a.channels % V != 0 || !alignedTo(a.x, sizeof(T) * V) || !alignedTo(a.y, sizeof(T) * V)) return false;
  const int64_t count = a.planes * a.out[0] * a.out[1] * (a.channels / V);
  const int64_t inputPacks = a.planes * a.in[0] * a.in[1] * (a.channels / V);
  // int32 indices when every index fits with room to spare: offsets are only formed for taps inside X, and window
  // coordinates stay within X's extent plus the padding and the dilated kernel.
  bool small = count < INT32_MAX / 2 && inputPacks < INT32_MAX / 2;
  for (int k = 0; k < 2; ++k)
    small = small && a.in[k] + a.padBegin[k] + a.padEnd[k] + a.kernel[k] * a.dilation[k] < (int64_t{1} << 24) &&
            a.out[k] * a.stride[k] < (int64_t{1} << 24);
  if (small)
    poolNhwcKernel<T, V, int32_t><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, static_cast<int32_t>(count));
  else
    poolNhwcKernel<T, V, int64_t><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  return true;
}

/// The widest access C allows: 16 bytes (float16/bfloat16 x 8, float32 x 4), then 8, then 4 bytes, then one element.
template <typename T> void launchPoolNhwcTyped(const PoolArgs& a, cudaStream_t stream) {
  constexpr int kWide = 16 / sizeof(T);
  if (launchPoolNhwcWidth<T, kWide>(a, stream)) return;
  if constexpr (kWide / 2 >= 2)
    if (launchPoolNhwcWidth<T, kWide / 2>(a, stream)) return;
  if constexpr (kWide / 4 >= 2)
    if (launchPoolNhwcWidth<T, kWide / 4>(a, stream)) return;
  launchPoolNhwcWidth<T, 1>(a, stream);
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
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto t) {
    if (a.channelsLast) launchPoolNhwcTyped<decltype(t)>(a, stream);
    else poolKernel<decltype(t)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchGlobalPoolNhwc(const GlobalPoolNhwcArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.batch == 0 || a.channels == 0) return cudaSuccess;
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto t) {
    using T = decltype(t);
    constexpr int kWide = 16 / sizeof(T);
    if (a.channels % kWide == 0 && aligned16(a.x) && aligned16(a.y)) launchGlobalNhwc<T, kWide>(a, stream);
    else launchGlobalNhwc<T, 1>(a, stream);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

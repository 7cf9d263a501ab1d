// The stem's packing kernel: y = zero-padded 2x2 (any block) space-to-depth of NCHW x, NHWC or NCHW out.
#include <cstdint>

#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/stem_pack.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kVector = 8;  // channels per thread on the vector path

/// Arguments in the kernel's index type (32-bit when every index fits: fewer instructions per division).
template <typename I> struct Geometry {
  I C, H, W, block, padTop, padLeft, OH, OW, OC, blocked;  // blocked = C * block^2 (channels that carry data)
};

template <typename I> Geometry<I> geometryOf(const PackedSpaceToDepthArgs& a) {
  return {static_cast<I>(a.channels), static_cast<I>(a.height),    static_cast<I>(a.width),
          static_cast<I>(a.block),    static_cast<I>(a.padTop),    static_cast<I>(a.padLeft),
          static_cast<I>(a.outHeight), static_cast<I>(a.outWidth), static_cast<I>(a.outChannels),
          static_cast<I>(a.channels * a.block * a.block)};
}

/// The element of output channel oc at packed pixel (n, i, j); zero in the padding and past the blocked channels.
template <typename T, typename I>
__device__ __forceinline__ T packedElement(const T* __restrict__ x, const Geometry<I>& g, I n, I i, I j, I oc) {
  if (oc >= g.blocked) return T(0);
  const I blk = oc / g.C, c = oc - blk * g.C;
  const I a = blk / g.block, b = blk - a * g.block;
  const I h = i * g.block + a - g.padTop, w = j * g.block + b - g.padLeft;
  if (h < 0 || h >= g.H || w < 0 || w >= g.W) return T(0);
  return x[((n * g.C + c) * g.H + h) * g.W + w];
}

/// One thread per output element (any channel count, either output layout).
template <typename T, typename I>
__global__ void packScalarKernel(const T* __restrict__ x, T* __restrict__ y, Geometry<I> g, I count,
                                 bool channelsLast) {
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < count;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    I n, i, j, oc;
    if (channelsLast) {
      oc = idx % g.OC;
      I rest = idx / g.OC;
      j = rest % g.OW;
      rest /= g.OW;
      i = rest % g.OH;
      n = rest / g.OH;
    } else {
      j = idx % g.OW;
      I rest = idx / g.OW;
      i = rest % g.OH;
      rest /= g.OH;
      oc = rest % g.OC;
      n = rest / g.OC;
    }
    y[idx] = packedElement(x, g, n, i, j, oc);
  }
}

template <typename T> struct alignas(16) Vector {
  T v[kVector];
};

/// NHWC output with OC % 8 == 0: each thread writes 8 consecutive channels of one pixel in one (float16) or two
/// (float32) 16-byte stores; consecutive threads write consecutive 16-byte chunks.
template <typename T, typename I>
__global__ void packVectorKernel(const T* __restrict__ x, Vector<T>* __restrict__ y, Geometry<I> g, I count) {
  const I groups = g.OC / kVector;
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < count;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    const I group = idx % groups;
    I rest = idx / groups;
    const I j = rest % g.OW;
    rest /= g.OW;
    const I i = rest % g.OH;
    const I n = rest / g.OH;
    Vector<T> out;
#pragma unroll
    for (int v = 0; v < kVector; ++v) out.v[v] = packedElement(x, g, n, i, j, group * kVector + v);
    y[idx] = out;
  }
}

/// The stem's case (block 2, C <= 4 known at compile time, NHWC, OC % 8 == 0): one thread per output pixel, no
/// divisions per element. For each (a, c) the two taps b = 0, 1 are adjacent in X, so a warp's 32 pixels read 64
/// consecutive elements of one row; the pixel's OC channels go out as OC / 8 consecutive 16-byte vectors.
template <typename T, typename I, int C>
__global__ void packStemKernel(const T* __restrict__ x, Vector<T>* __restrict__ y, Geometry<I> g, I pixels) {
  constexpr int kData = 4 * C;                                // channels that carry data
  constexpr int kDataVectors = (kData + kVector - 1) / kVector;  // vectors that hold them
  const I vectors = g.OC / kVector;
  const I plane = g.H * g.W;
  for (I idx = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; idx < pixels;
       idx += static_cast<I>(gridDim.x) * blockDim.x) {
    const I j = idx % g.OW;
    I rest = idx / g.OW;
    const I i = rest % g.OH;
    const I n = rest / g.OH;
    T v[kDataVectors * kVector];
#pragma unroll
    for (int k = 0; k < kDataVectors * kVector; ++k) v[k] = T(0);
#pragma unroll
    for (int a = 0; a < 2; ++a) {
      const I h = i * 2 + a - g.padTop;
      if (h < 0 || h >= g.H) continue;
#pragma unroll
      for (int b = 0; b < 2; ++b) {
        const I w = j * 2 + b - g.padLeft;
        if (w < 0 || w >= g.W) continue;
        const T* src = x + (n * C * g.H + h) * g.W + w;
#pragma unroll
        for (int c = 0; c < C; ++c) v[(a * 2 + b) * C + c] = src[c * plane];
      }
    }
    Vector<T>* dst = y + idx * vectors;
#pragma unroll
    for (int k = 0; k < kDataVectors; ++k) {
      Vector<T> out;
#pragma unroll
      for (int e = 0; e < kVector; ++e) out.v[e] = v[k * kVector + e];
      dst[k] = out;
    }
    for (I k = kDataVectors; k < vectors; ++k) {
      Vector<T> zero;
#pragma unroll
      for (int e = 0; e < kVector; ++e) zero.v[e] = T(0);
      dst[k] = zero;
    }
  }
}

template <typename T, typename I, int C> void launchStem(const PackedSpaceToDepthArgs& a, int64_t total, cudaStream_t s) {
  const int64_t pixels = total / a.outChannels;
  packStemKernel<T, I, C><<<gridFor(pixels, kThreads), kThreads, 0, s>>>(
      static_cast<const T*>(a.x), static_cast<Vector<T>*>(a.y), geometryOf<I>(a), static_cast<I>(pixels));
}

template <typename T, typename I> void launchTyped(const PackedSpaceToDepthArgs& a, int64_t total, cudaStream_t s) {
  const Geometry<I> g = geometryOf<I>(a);
  const T* x = static_cast<const T*>(a.x);
  const bool vector = a.channelsLast && a.outChannels % kVector == 0 && reinterpret_cast<uintptr_t>(a.y) % 16 == 0 &&
                      (sizeof(T) == 2 || sizeof(T) == 4);
  if (vector && a.block == 2 && a.channels >= 1 && a.channels <= 4) {
    switch (a.channels) {
      case 1: return launchStem<T, I, 1>(a, total, s);
      case 2: return launchStem<T, I, 2>(a, total, s);
      case 3: return launchStem<T, I, 3>(a, total, s);
      default: return launchStem<T, I, 4>(a, total, s);
    }
  }
  if (vector) {
    const int64_t count = total / kVector;
    packVectorKernel<T, I><<<gridFor(count, kThreads), kThreads, 0, s>>>(x, static_cast<Vector<T>*>(a.y), g,
                                                                        static_cast<I>(count));
  } else {
    packScalarKernel<T, I><<<gridFor(total, kThreads), kThreads, 0, s>>>(x, static_cast<T*>(a.y), g,
                                                                        static_cast<I>(total), a.channelsLast);
  }
}

template <typename T> void launchSized(const PackedSpaceToDepthArgs& a, int64_t total, cudaStream_t s) {
  const int64_t inputCount = a.batch * a.channels * a.height * a.width;
  // Every index the kernel forms (output index, input offset, padded coordinates) stays below these counts plus
  // the pads, which are bounded by the padded input.
  const int64_t limit = INT32_MAX / 2;
  if (total < limit && inputCount < limit && a.padTop < limit / 4 && a.padLeft < limit / 4 &&
      a.outHeight * a.block < limit && a.outWidth * a.block < limit)
    launchTyped<T, int32_t>(a, total, s);
  else
    launchTyped<T, int64_t>(a, total, s);
}

}  // namespace

cudaError_t launchPackedSpaceToDepth(const PackedSpaceToDepthArgs& a, size_t elementBytes, cudaStream_t stream) {
  const int64_t total = a.batch * a.outHeight * a.outWidth * a.outChannels;
  if (total == 0) return cudaSuccess;
  if (a.channels < 0 || a.block < 1 || a.outChannels < a.channels * a.block * a.block) return cudaErrorInvalidValue;
  switch (elementBytes) {
    case 1: launchSized<uint8_t>(a, total, stream); break;
    case 2: launchSized<uint16_t>(a, total, stream); break;
    case 4: launchSized<uint32_t>(a, total, stream); break;
    case 8: launchSized<uint64_t>(a, total, stream); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

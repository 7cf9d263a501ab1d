// Device side of the conv answer check (conv_tactic_check.cpp): deterministic random fills, a direct float64
// convolution evaluated at sampled output elements, and the gather of a candidate's output at those elements.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backends/cuda/conv_reference.h"
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_device.cuh"
#include "ops/fused_elementwise_math.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ uint64_t mix(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <typename T> __global__ void fillKernel(T* data, int64_t count, uint64_t seed, float scale) {
  KILN_GRID_STRIDE(i, count) {
    const uint64_t h = mix(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    store(data, i, scale * (2.0f * u - 1.0f));
  }
}

/// Element i of a T tensor as a double.
template <typename T> struct DeviceLoad {
  __device__ double operator()(const void* p, int64_t i) const {
    return static_cast<double>(load(static_cast<const T*>(p), i));
  }
};

template <typename T> __global__ void referenceKernel(ReferenceConvArgs a) {
  KILN_GRID_STRIDE(j, a.samples) a.y[j] = referenceConvAt(a, a.sampleIndex[j], DeviceLoad<T>{});
}

template <typename T> __global__ void gatherKernel(const void* y, const int64_t* index, int64_t samples, float* out) {
  KILN_GRID_STRIDE(j, samples) out[j] = static_cast<float>(load(static_cast<const T*>(y), index[j]));
}

template <typename F> bool dispatch(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: f(float{}); return true;
    case DataType::kFloat16: f(__half{}); return true;
    case DataType::kBFloat16: f(__nv_bfloat16{}); return true;
    default: return false;
  }
}

}  // namespace

cudaError_t launchRandomFill(void* data, DataType dtype, int64_t count, uint64_t seed, float scale,
                             cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  const bool known = dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    fillKernel<T><<<gridFor(count, kThreads), kThreads, 0, stream>>>(static_cast<T*>(data), count, seed, scale);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchReferenceConv(const ReferenceConvArgs& args, DataType dtype, cudaStream_t stream) {
  if (args.samples <= 0) return cudaSuccess;
  if (args.group <= 0 || args.channels % args.group != 0 || args.outChannels % args.group != 0)
    return cudaErrorInvalidValue;
  const bool known = dispatch(dtype, [&](auto t) {
    referenceKernel<decltype(t)><<<gridFor(args.samples, kThreads), kThreads, 0, stream>>>(args);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchGatherSamples(const void* y, DataType dtype, const int64_t* index, int64_t samples, float* out,
                                cudaStream_t stream) {
  if (samples <= 0) return cudaSuccess;
  const bool known = dispatch(dtype, [&](auto t) {
    gatherKernel<decltype(t)><<<gridFor(samples, kThreads), kThreads, 0, stream>>>(y, index, samples, out);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

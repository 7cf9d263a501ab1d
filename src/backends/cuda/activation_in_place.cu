#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "backends/cuda/activation_in_place.h"
#include "backends/cuda/cuda_device.cuh"
#include "ops/fused_elementwise_math.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float apply(const InPlaceActivation& a, float x) {
  if (!a.present) return x;
  const float y = ops::fused::unary(a.op, x, a.params);
  return a.timesInput ? x * y : y;
}

/// Two elements per thread through half2 loads; the odd last element, if any, by thread 0.
__global__ void activationKernelHalf2(__half2* data, int64_t pairs, __half* tail, InPlaceActivation a) {
  KILN_GRID_STRIDE(i, pairs) {
    const float2 v = __half22float2(data[i]);
    data[i] = __floats2half2_rn(apply(a, v.x), apply(a, v.y));
  }
  if (tail && blockIdx.x == 0 && threadIdx.x == 0) *tail = __float2half_rn(apply(a, __half2float(*tail)));
}

template <typename T> __global__ void activationKernel(T* data, int64_t count, InPlaceActivation a) {
  KILN_GRID_STRIDE(i, count) store(data, i, apply(a, load(data, i)));
}

template <typename T> __global__ void convEpilogueKernel(ConvEpilogueArgs a) {
  T* y = static_cast<T*>(a.y);
  const T* bias = static_cast<const T*>(a.bias);
  const T* z = static_cast<const T*>(a.z);
  KILN_GRID_STRIDE(i, a.count) {
    float v = load(y, i);
    if (bias) v += load(bias, a.channelsLast ? i % a.channels : (i / a.inner) % a.channels);
    if (z) v += load(z, i);
    store(y, i, apply(a.activation, v));
  }
}

unsigned blocksFor(int64_t count) {
  return static_cast<unsigned>(std::clamp<int64_t>((count + kThreads - 1) / kThreads, 1, 65535));
}

}  // namespace

bool epilogueKernelTakes(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
}

cudaError_t launchActivationInPlace(void* data, DataType dtype, int64_t count, const InPlaceActivation& activation,
                                    cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  switch (dtype) {
    case DataType::kFloat32:
      activationKernel<float><<<blocksFor(count), kThreads, 0, stream>>>(static_cast<float*>(data), count, activation);
      break;
    case DataType::kBFloat16:
      activationKernel<__nv_bfloat16><<<blocksFor(count), kThreads, 0, stream>>>(static_cast<__nv_bfloat16*>(data),
                                                                                 count, activation);
      break;
    case DataType::kFloat16: {
      // Device allocations are 256-byte aligned and activations are whole tensors, so half2 access is aligned.
      if (reinterpret_cast<uintptr_t>(data) % alignof(__half2) != 0) return cudaErrorMisalignedAddress;
      const int64_t pairs = count / 2;
      __half* tail = count % 2 ? static_cast<__half*>(data) + (count - 1) : nullptr;
      activationKernelHalf2<<<blocksFor(pairs), kThreads, 0, stream>>>(static_cast<__half2*>(data), pairs, tail,
                                                                       activation);
      break;
    }
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchConvEpilogue(const ConvEpilogueArgs& args, DataType dtype, cudaStream_t stream) {
  if (args.count <= 0) return cudaSuccess;
  if (args.channels <= 0 || args.inner <= 0) return cudaErrorInvalidValue;
  switch (dtype) {
    case DataType::kFloat32: convEpilogueKernel<float><<<blocksFor(args.count), kThreads, 0, stream>>>(args); break;
    case DataType::kFloat16: convEpilogueKernel<__half><<<blocksFor(args.count), kThreads, 0, stream>>>(args); break;
    case DataType::kBFloat16:
      convEpilogueKernel<__nv_bfloat16><<<blocksFor(args.count), kThreads, 0, stream>>>(args);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

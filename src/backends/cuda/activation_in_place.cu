#include <cuda_fp16.h>

#include <algorithm>

#include "backends/cuda/activation_in_place.h"
#include "ops/fused_elementwise_math.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float apply(const InPlaceActivation& a, float x) {
  const float y = ops::fused::unary(a.op, x, a.params);
  return a.timesInput ? x * y : y;
}

/// Two elements per thread through half2 loads; the odd last element, if any, by thread 0.
__global__ void activationKernel(__half2* data, int64_t pairs, __half* tail, InPlaceActivation a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < pairs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float2 v = __half22float2(data[i]);
    data[i] = __floats2half2_rn(apply(a, v.x), apply(a, v.y));
  }
  if (tail && blockIdx.x == 0 && threadIdx.x == 0) *tail = __float2half_rn(apply(a, __half2float(*tail)));
}

__global__ void activationKernelFloat(float* data, int64_t count, InPlaceActivation a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    data[i] = apply(a, data[i]);
}

}  // namespace

cudaError_t launchActivationInPlace(void* data, bool isFloat32, int64_t count, const InPlaceActivation& activation,
                                    cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  if (isFloat32) {
    const int64_t blocks = std::clamp<int64_t>((count + kThreads - 1) / kThreads, 1, 65535);
    activationKernelFloat<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(static_cast<float*>(data), count,
                                                                                 activation);
    return cudaGetLastError();
  }
  void* halfData = data;
  // Device allocations are 256-byte aligned and activations are whole tensors, so half2 access is aligned.
  if (reinterpret_cast<uintptr_t>(halfData) % alignof(__half2) != 0) return cudaErrorMisalignedAddress;
  const int64_t pairs = count / 2;
  __half* tail = count % 2 ? static_cast<__half*>(halfData) + (count - 1) : nullptr;
  const int64_t blocks = std::clamp<int64_t>((pairs + kThreads - 1) / kThreads, 1, 65535);
  activationKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(static_cast<__half2*>(halfData), pairs,
                                                                          tail, activation);
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

// Softmax, LogSoftmax and row normalizations (LayerNorm, InstanceNorm, GroupNorm): one block per row, float32
// statistics, two passes over the row (max/mean, then sums) so large values do not lose precision.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/normalization.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

enum class Combine { kSum, kMax };

/// Reduces `v` over the block; every thread gets the result. `scratch` holds one float per warp.
template <Combine C> __device__ float blockReduce(float v, float* scratch) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, offset);
    v = C == Combine::kSum ? v + other : fmaxf(v, other);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // scratch may still be read from a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  v = lane < warps ? scratch[lane] : (C == Combine::kSum ? 0.f : -INFINITY);
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, offset);
    v = C == Combine::kSum ? v + other : fmaxf(v, other);
  }
  return v;
}

template <typename T> __global__ void softmaxKernel(SoftmaxArgs a) {
  __shared__ float scratch[32];
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  const int64_t row = blockIdx.x;
  const int64_t o = row / a.inner, in = row % a.inner;
  const int64_t base = o * a.axisLength * a.inner + in;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < a.axisLength; j += blockDim.x) m = fmaxf(m, load(x, base + j * a.inner));
  m = blockReduce<Combine::kMax>(m, scratch);
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < a.axisLength; j += blockDim.x) s += expf(load(x, base + j * a.inner) - m);
  s = blockReduce<Combine::kSum>(s, scratch);
  const float logSum = logf(s), inverse = 1.f / s;
  for (int64_t j = threadIdx.x; j < a.axisLength; j += blockDim.x) {
    const float v = load(x, base + j * a.inner) - m;
    store(y, base + j * a.inner, a.logSoftmax ? v - logSum : expf(v) * inverse);
  }
}

template <typename T> __global__ void rowNormKernel(RowNormArgs a) {
  __shared__ float scratch[32];
  const T* x = static_cast<const T*>(a.x);
  const T* scale = static_cast<const T*>(a.scale);
  const T* bias = static_cast<const T*>(a.bias);
  T* y = static_cast<T*>(a.y);
  const int64_t row = blockIdx.x;
  const int64_t base = row * a.rowLength;
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < a.rowLength; j += blockDim.x) sum += load(x, base + j);
  const float mean = blockReduce<Combine::kSum>(sum, scratch) / static_cast<float>(a.rowLength);
  float squares = 0.f;
  for (int64_t j = threadIdx.x; j < a.rowLength; j += blockDim.x) {
    const float d = load(x, base + j) - mean;
    squares += d * d;
  }
  const float variance = blockReduce<Combine::kSum>(squares, scratch) / static_cast<float>(a.rowLength);
  const float inverse = rsqrtf(variance + a.epsilon);
  const int64_t group = row % a.groups;
  for (int64_t j = threadIdx.x; j < a.rowLength; j += blockDim.x) {
    int64_t p, q;
    switch (a.affine) {
      case AffineIndex::kPerElement: p = j % a.scaleCount; q = a.biasCount > 0 ? j % a.biasCount : 0; break;
      case AffineIndex::kPerChannel: p = q = group * a.channelsPerGroup + j / a.spatial; break;
      default: p = q = group; break;
    }
    float v = (load(x, base + j) - mean) * inverse * load(scale, p);
    if (bias) v += load(bias, q);
    store(y, base + j, v);
  }
}

template <typename T> __global__ void batchNormKernel(BatchNormArgs a) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE(i, a.count) {
    const int64_t c = (i / a.inner) % a.channels;
    const float inverse = rsqrtf(load(static_cast<const T*>(a.var), c) + a.epsilon);
    const float v = (load(x, i) - load(static_cast<const T*>(a.mean), c)) * inverse *
                        load(static_cast<const T*>(a.scale), c) +
                    load(static_cast<const T*>(a.bias), c);
    store(y, i, v);
  }
}

}  // namespace

cudaError_t launchSoftmax(const SoftmaxArgs& a, DataType dtype, cudaStream_t stream) {
  const int64_t rows = a.outer * a.inner;
  if (rows == 0 || a.axisLength == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidValue;
  const int threads = a.axisLength <= 64 ? 32 : (a.axisLength <= 512 ? 128 : kThreads);
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto t) {
    softmaxKernel<decltype(t)><<<static_cast<unsigned>(rows), threads, 0, stream>>>(a);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchRowNorm(const RowNormArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.rows == 0 || a.rowLength == 0) return cudaSuccess;
  if (a.rows > 0x7fffffff) return cudaErrorInvalidValue;
  const int threads = a.rowLength <= 64 ? 32 : (a.rowLength <= 512 ? 128 : kThreads);
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto t) {
    rowNormKernel<decltype(t)><<<static_cast<unsigned>(a.rows), threads, 0, stream>>>(a);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchBatchNorm(const BatchNormArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto t) {
    batchNormKernel<decltype(t)><<<gridFor(a.count, kThreads), kThreads, 0, stream>>>(a);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

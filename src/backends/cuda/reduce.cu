// Reductions: one warp per output element; lanes walk the reduced index space (coalesced when the innermost
// reduced dim is contiguous, as for GlobalAveragePool and ReduceMean over the last axis).
#include <type_traits>

#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/reduction.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;
constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;

template <typename A> __device__ A identityOf(OpKind op) {
  switch (op) {
    case OpKind::kReduceMax: return std::is_floating_point_v<A> ? static_cast<A>(-INFINITY) : static_cast<A>(LLONG_MIN);
    case OpKind::kReduceMin: return std::is_floating_point_v<A> ? static_cast<A>(INFINITY) : static_cast<A>(LLONG_MAX);
    case OpKind::kReduceProd: return A(1);
    case OpKind::kReduceLogSumExp: return static_cast<A>(-INFINITY);  // pass 1 is a max
    default: return A(0);
  }
}

template <typename A> __device__ A combine(OpKind op, A a, A b) {
  switch (op) {
    case OpKind::kReduceMax: case OpKind::kReduceLogSumExp: return a > b ? a : b;
    case OpKind::kReduceMin: return a < b ? a : b;
    case OpKind::kReduceProd: return a * b;
    default: return a + b;
  }
}

template <typename A> __device__ A lift(OpKind op, A v) {
  switch (op) {
    case OpKind::kReduceL1: return v < A(0) ? -v : v;
    case OpKind::kReduceL2: case OpKind::kReduceSumSquare: return v * v;
    default: return v;
  }
}

template <typename A> __device__ A warpReduce(OpKind op, A v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = combine(op, v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ __forceinline__ int64_t keptOffset(const ReduceArgs& a, int64_t out) {
  int64_t offset = 0;
  for (int k = a.keptRank - 1; k >= 0; --k) {
    offset += (out % a.keptDims[k]) * a.keptStrides[k];
    out /= a.keptDims[k];
  }
  return offset;
}

__device__ __forceinline__ int64_t reducedOffset(const ReduceArgs& a, int64_t r) {
  int64_t offset = 0;
  for (int k = a.reducedRank - 1; k >= 0; --k) {
    offset += (r % a.reducedDims[k]) * a.reducedStrides[k];
    r /= a.reducedDims[k];
  }
  return offset;
}

template <typename T, typename A> __global__ void reduceKernel(ReduceArgs a) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  const int lane = threadIdx.x % 32;
  const int64_t warpsTotal = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t out = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32; out < a.outCount;
       out += warpsTotal) {
    const int64_t base = keptOffset(a, out);
    A acc = identityOf<A>(a.op);
    for (int64_t r = lane; r < a.reduceCount; r += 32)
      acc = combine(a.op, acc, lift(a.op, static_cast<A>(load(x, base + reducedOffset(a, r)))));
    acc = warpReduce(a.op, acc);
    if constexpr (std::is_floating_point_v<A>) {
      if (a.op == OpKind::kReduceLogSumExp) {
        const A m = acc;
        A s = 0;
        for (int64_t r = lane; r < a.reduceCount; r += 32) s += exp(static_cast<A>(load(x, base + reducedOffset(a, r))) - m);
        s = warpReduce(OpKind::kReduceSum, s);
        acc = m + log(s);
      } else if (a.op == OpKind::kReduceMean) {
        acc /= static_cast<A>(a.reduceCount);
      } else if (a.op == OpKind::kReduceL2) {
        acc = sqrt(acc);
      } else if (a.op == OpKind::kReduceLogSum) {
        acc = log(acc);
      }
    } else {
      if (a.op == OpKind::kReduceMean && a.reduceCount > 0) acc /= static_cast<A>(a.reduceCount);
    }
    if (lane == 0) store(y, out, acc);
  }
}

/// A = the comparison type: float for float32/float16/bfloat16, double for float64, int64 for integers (exact ties).
template <typename T, typename A> __global__ void argKernel(ReduceArgs a) {
  const T* x = static_cast<const T*>(a.x);
  int64_t* y = static_cast<int64_t*>(a.y);
  const int lane = threadIdx.x % 32;
  const bool isMax = a.op == OpKind::kArgMax;
  const int64_t warpsTotal = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t out = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32; out < a.outCount;
       out += warpsTotal) {
    const int64_t base = keptOffset(a, out);
    A best = A(0);
    int64_t bestIndex = -1;
    for (int64_t r = lane; r < a.reduceCount; r += 32) {
      const A v = static_cast<A>(load(x, base + reducedOffset(a, r)));
      const bool better = bestIndex < 0 || (isMax ? v > best : v < best) || (a.selectLastIndex && v == best);
      if (better) {
        best = v;
        bestIndex = r;
      }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
      const A v = __shfl_xor_sync(0xffffffffu, best, offset);
      const int64_t i = __shfl_xor_sync(0xffffffffu, bestIndex, offset);
      if (i < 0) continue;
      const bool strictly = isMax ? v > best : v < best;
      const bool tie = v == best && (a.selectLastIndex ? i > bestIndex : i < bestIndex);
      if (bestIndex < 0 || strictly || tie) {
        best = v;
        bestIndex = i;
      }
    }
    if (lane == 0) y[out] = bestIndex < 0 ? 0 : bestIndex;
  }
}

template <typename T> __global__ void cumSumKernel(CumSumArgs a, int64_t lines) {
  using C = Compute<T>;
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE(line, lines) {
    const int64_t base = (line / a.inner) * a.axisLength * a.inner + line % a.inner;
    C sum = a.product ? C(1) : C(0);
    for (int64_t step = 0; step < a.axisLength; ++step) {
      const int64_t j = a.reverse ? a.axisLength - 1 - step : step;
      const C v = load(x, base + j * a.inner);
      if (a.exclusive) store(y, base + j * a.inner, sum);
      if (a.product) sum *= v;
      else sum += v;
      if (!a.exclusive) store(y, base + j * a.inner, sum);
    }
  }
}

// One thread per scan line; the line layout is only known once the axis is read, so each thread reads it.
template <typename T> __global__ void cumSumDeviceAxisKernel(CumSumDeviceAxisArgs a) {
  using C = Compute<T>;
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  int64_t axis = a.axis64 ? *static_cast<const int64_t*>(a.axis) : *static_cast<const int32_t*>(a.axis);
  if (axis < 0) axis += a.rank;
  if (axis < 0 || axis >= a.rank) {
    KILN_GRID_STRIDE(i, a.count) y[i] = convert<T>(C(0));
    return;
  }
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; ++k) outer *= a.dims[k];
  for (int k = static_cast<int>(axis) + 1; k < a.rank; ++k) inner *= a.dims[k];
  const int64_t length = a.dims[axis];
  KILN_GRID_STRIDE(line, outer * inner) {
    const int64_t base = (line / inner) * length * inner + line % inner;
    C sum = a.product ? C(1) : C(0);
    for (int64_t step = 0; step < length; ++step) {
      const int64_t j = a.reverse ? length - 1 - step : step;
      const C v = load(x, base + j * inner);
      if (a.exclusive) store(y, base + j * inner, sum);
      if (a.product) sum *= v;
      else sum += v;
      if (!a.exclusive) store(y, base + j * inner, sum);
    }
  }
}

unsigned gridForWarps(int64_t outputs) {
  const int64_t blocks = (outputs + kWarpsPerBlock - 1) / kWarpsPerBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

}  // namespace

cudaError_t launchReduce(const ReduceArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.outCount == 0) return cudaSuccess;
  const unsigned grid = gridForWarps(a.outCount);
  if (a.op == OpKind::kArgMax || a.op == OpKind::kArgMin) {
    switch (dtype) {
      case DataType::kFloat32: argKernel<float, float><<<grid, kThreads, 0, stream>>>(a); break;
      case DataType::kFloat16: argKernel<__half, float><<<grid, kThreads, 0, stream>>>(a); break;
      case DataType::kBFloat16: argKernel<__nv_bfloat16, float><<<grid, kThreads, 0, stream>>>(a); break;
      case DataType::kFloat64: argKernel<double, double><<<grid, kThreads, 0, stream>>>(a); break;
      case DataType::kInt64: argKernel<int64_t, int64_t><<<grid, kThreads, 0, stream>>>(a); break;
      case DataType::kInt32: argKernel<int32_t, int64_t><<<grid, kThreads, 0, stream>>>(a); break;
      default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
  }
  switch (dtype) {
    case DataType::kFloat32: reduceKernel<float, float><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kFloat16: reduceKernel<__half, float><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kBFloat16: reduceKernel<__nv_bfloat16, float><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kFloat64: reduceKernel<double, double><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kInt64: reduceKernel<int64_t, int64_t><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kInt32: reduceKernel<int32_t, int64_t><<<grid, kThreads, 0, stream>>>(a); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchCumSum(const CumSumArgs& a, DataType dtype, cudaStream_t stream) {
  const int64_t lines = a.outer * a.inner;
  if (lines == 0 || a.axisLength == 0) return cudaSuccess;
  const unsigned grid = gridFor(lines, kThreads);
  switch (dtype) {
    case DataType::kFloat32: cumSumKernel<float><<<grid, kThreads, 0, stream>>>(a, lines); break;
    case DataType::kFloat16: cumSumKernel<__half><<<grid, kThreads, 0, stream>>>(a, lines); break;
    case DataType::kBFloat16: cumSumKernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(a, lines); break;
    case DataType::kFloat64: cumSumKernel<double><<<grid, kThreads, 0, stream>>>(a, lines); break;
    case DataType::kInt64: cumSumKernel<int64_t><<<grid, kThreads, 0, stream>>>(a, lines); break;
    case DataType::kInt32: cumSumKernel<int32_t><<<grid, kThreads, 0, stream>>>(a, lines); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchCumSumDeviceAxis(const CumSumDeviceAxisArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  // Lines never outnumber elements, and every thread must see an out-of-range axis to zero its share.
  const unsigned grid = gridFor(a.count, kThreads);
  switch (dtype) {
    case DataType::kFloat32: cumSumDeviceAxisKernel<float><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kFloat16: cumSumDeviceAxisKernel<__half><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kBFloat16: cumSumDeviceAxisKernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kFloat64: cumSumDeviceAxisKernel<double><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kInt64: cumSumDeviceAxisKernel<int64_t><<<grid, kThreads, 0, stream>>>(a); break;
    case DataType::kInt32: cumSumDeviceAxisKernel<int32_t><<<grid, kThreads, 0, stream>>>(a); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

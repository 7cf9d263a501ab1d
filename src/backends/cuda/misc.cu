// Misc-family kernels: group reductions (Hardmax, LpNormalization, MeanVarianceNormalization, RMSNormalization)
// with one warp per group, LRN, TopK by rank counting, Det by LU, Einsum as a direct sum, and the NLL loss.
#include <type_traits>

#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/misc.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;

template <typename T> __device__ __forceinline__ double loadD(const T* p, int64_t i) {
  return static_cast<double>(load(p, i));
}
template <typename T> __device__ __forceinline__ void storeD(T* p, int64_t i, double v) {
  store(p, i, static_cast<Compute<T>>(v));
}

__device__ __forceinline__ int64_t walk(int32_t rank, const int64_t* dims, const int64_t* strides, int64_t i) {
  int64_t offset = 0;
  for (int k = rank - 1; k >= 0; --k) {
    offset += (i % dims[k]) * strides[k];
    i /= dims[k];
  }
  return offset;
}

__device__ __forceinline__ double warpSum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T> __global__ void groupKernel(GroupArgs a) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  const T* scale = static_cast<const T*>(a.scale);
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32; g < a.groups; g += warps) {
    const int64_t base = walk(a.keptRank, a.keptDims, a.keptStrides, g);
    if (a.op == GroupOp::kHardmax) {
      double best = 0;
      int64_t bestIndex = -1;
      for (int64_t r = lane; r < a.reduceCount; r += 32) {
        const double v = loadD(x, base + walk(a.reducedRank, a.reducedDims, a.reducedStrides, r));
        if (bestIndex < 0 || v > best) {  // lanes walk increasing r: the first maximum stays
          best = v;
          bestIndex = r;
        }
      }
      for (int o = 16; o > 0; o >>= 1) {
        const double v = __shfl_xor_sync(0xffffffffu, best, o);
        const int64_t i = __shfl_xor_sync(0xffffffffu, bestIndex, o);
        if (i >= 0 && (bestIndex < 0 || v > best || (v == best && i < bestIndex))) {
          best = v;
          bestIndex = i;
        }
      }
      for (int64_t r = lane; r < a.reduceCount; r += 32)
        storeD(y, base + walk(a.reducedRank, a.reducedDims, a.reducedStrides, r), r == bestIndex ? 1.0 : 0.0);
      continue;
    }
    double s1 = 0, s2 = 0;
    for (int64_t r = lane; r < a.reduceCount; r += 32) {
      const double v = loadD(x, base + walk(a.reducedRank, a.reducedDims, a.reducedStrides, r));
      s1 += a.op == GroupOp::kLpNormL1 ? fabs(v) : v;
      s2 += v * v;
    }
    s1 = warpSum(s1);
    s2 = warpSum(s2);
    const double n = static_cast<double>(a.reduceCount);
    double shift = 0, factor = 1;
    switch (a.op) {
      case GroupOp::kLpNormL1: factor = s1 == 0 ? 0 : 1 / s1; break;  // a zero vector stays zero
      case GroupOp::kLpNormL2: factor = s2 == 0 ? 0 : 1 / sqrt(s2); break;
      case GroupOp::kMeanVariance: {
        shift = s1 / n;
        const double variance = s2 / n - shift * shift;
        factor = 1 / (sqrt(variance > 0 ? variance : 0) + 1e-9);
        break;
      }
      default: factor = 1 / sqrt(s2 / n + static_cast<double>(a.epsilon)); break;
    }
    for (int64_t r = lane; r < a.reduceCount; r += 32) {
      const int64_t at = base + walk(a.reducedRank, a.reducedDims, a.reducedStrides, r);
      double v = (loadD(x, at) - shift) * factor;
      if (a.op == GroupOp::kRms) v *= loadD(scale, walk(a.reducedRank, a.reducedDims, a.scaleStrides, r));
      storeD(y, at, v);
    }
  }
}

template <typename T> __global__ void lrnKernel(LrnArgs a) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE(i, a.count) {
    const int64_t s = i % a.spatial, c = (i / a.spatial) % a.channels, b = i / (a.spatial * a.channels);
    const int64_t lo = c - a.below < 0 ? 0 : c - a.below, hi = c + a.above > a.channels - 1 ? a.channels - 1 : c + a.above;
    double squares = 0;
    for (int64_t k = lo; k <= hi; ++k) {
      const double v = loadD(x, (b * a.channels + k) * a.spatial + s);
      squares += v * v;
    }
    const double base = static_cast<double>(a.bias) + static_cast<double>(a.alpha) / static_cast<double>(a.size) * squares;
    storeD(y, i, loadD(x, i) / pow(base, static_cast<double>(a.beta)));
  }
}

template <typename T> __global__ void topKKernel(TopKArgs a, int64_t count) {
  const T* x = static_cast<const T*>(a.x);
  T* values = static_cast<T*>(a.values);
  KILN_GRID_STRIDE(e, count) {
    const int64_t in = e % a.inner, j = (e / a.inner) % a.len, o = e / (a.inner * a.len);
    const int64_t lineBase = o * a.len * a.inner + in;
    using C = Compute<T>;  // exact for every integer type
    const C v = load(x, lineBase + j * a.inner);
    const bool vNan = v != v;
    int64_t rank = 0;  // how many elements come before element j
    for (int64_t m = 0; m < a.len && rank < a.k; ++m) {
      if (m == j) continue;
      const C w = load(x, lineBase + m * a.inner);
      const bool wNan = w != w;
      bool before;
      if (vNan || wNan) before = (vNan && wNan) ? m < j : (a.largest ? wNan : vNan);
      else if (w != v) before = a.largest ? w > v : w < v;
      else before = m < j;
      rank += before ? 1 : 0;
    }
    if (rank < a.k) {
      const int64_t at = o * a.k * a.inner + rank * a.inner + in;
      values[at] = x[lineBase + j * a.inner];
      a.indices[at] = j;
    }
  }
}

template <typename T> __global__ void detKernel(const T* x, T* y, double* scratch, int64_t batch, int64_t n) {
  KILN_GRID_STRIDE(b, batch) {
    double* m = scratch + b * n * n;
    for (int64_t i = 0; i < n * n; ++i) m[i] = loadD(x, b * n * n + i);
    double det = 1;
    for (int64_t c = 0; c < n && det != 0; ++c) {
      int64_t pivot = c;
      for (int64_t r = c + 1; r < n; ++r)
        if (fabs(m[r * n + c]) > fabs(m[pivot * n + c])) pivot = r;
      if (m[pivot * n + c] == 0) {
        det = 0;
        break;
      }
      if (pivot != c) {
        for (int64_t j = 0; j < n; ++j) {
          const double t = m[c * n + j];
          m[c * n + j] = m[pivot * n + j];
          m[pivot * n + j] = t;
        }
        det = -det;
      }
      det *= m[c * n + c];
      for (int64_t r = c + 1; r < n; ++r) {
        const double f = m[r * n + c] / m[c * n + c];
        for (int64_t j = c; j < n; ++j) m[r * n + j] -= f * m[c * n + j];
      }
    }
    storeD(y, b, det);
  }
}

template <typename T> __global__ void einsumKernel(EinsumArgs a) {
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t idx[kMaxEinsumLabels] = {};
    int64_t rest = i;
    for (int l = a.outputRank - 1; l >= 0; --l) {
      idx[l] = rest % a.labelSize[l];
      rest /= a.labelSize[l];
    }
    int64_t contracted = 1;
    for (int l = a.outputRank; l < a.labels; ++l) contracted *= a.labelSize[l];
    double sum = 0;
    for (int64_t c = 0; c < contracted; ++c) {
      int64_t r = c;
      for (int l = a.labels - 1; l >= a.outputRank; --l) {
        idx[l] = r % a.labelSize[l];
        r /= a.labelSize[l];
      }
      double product = 1;
      for (int k = 0; k < a.operands; ++k) {
        int64_t offset = 0;
        for (int l = 0; l < a.labels; ++l) offset += idx[l] * a.strides[k][l];
        product *= loadD(static_cast<const T*>(a.inputs[k]), offset);
      }
      sum += product;
    }
    storeD(y, i, sum);
  }
}

template <typename T> __device__ void nllTerm(const NllArgs& a, int64_t i, double& loss, double& weight) {
  const T* logp = static_cast<const T*>(a.logp);
  const T* w = static_cast<const T*>(a.weight);
  const int64_t s = i % a.spatial, b = i / a.spatial;
  const int64_t t = a.target64 ? static_cast<const int64_t*>(a.target)[i] : static_cast<const int32_t*>(a.target)[i];
  loss = 0;
  weight = 0;
  if ((a.hasIgnore && t == a.ignoreIndex) || t < 0 || t >= a.classes) return;
  weight = w ? loadD(w, t) : 1.0;
  loss = -loadD(logp, (b * a.classes + t) * a.spatial + s) * weight;
}

template <typename T> __global__ void nllElementKernel(NllArgs a) {
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE(i, a.n * a.spatial) {
    double loss, weight;
    nllTerm<T>(a, i, loss, weight);
    storeD(y, i, loss);
  }
}

/// One block sums every term (sum / mean reductions): no atomics, so the result is deterministic.
template <typename T> __global__ void nllReduceKernel(NllArgs a) {
  __shared__ double lossParts[kWarpsPerBlock], weightParts[kWarpsPerBlock];
  double loss = 0, weight = 0;
  for (int64_t i = threadIdx.x; i < a.n * a.spatial; i += blockDim.x) {
    double l, w;
    nllTerm<T>(a, i, l, w);
    loss += l;
    weight += w;
  }
  loss = warpSum(loss);
  weight = warpSum(weight);
  if (threadIdx.x % 32 == 0) {
    lossParts[threadIdx.x / 32] = loss;
    weightParts[threadIdx.x / 32] = weight;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double l = 0, w = 0;
    for (int k = 0; k < kWarpsPerBlock; ++k) {
      l += lossParts[k];
      w += weightParts[k];
    }
    storeD(static_cast<T*>(a.y), 0, a.reduction == LossReduction::kSum ? l : l / w);
  }
}

/// float32, float16, bfloat16 and float64 kernels (statistics in double).
template <typename F> bool dispatchMiscFloat(DataType t, F&& f) {
  if (t == DataType::kFloat64) {
    f(double{});
    return true;
  }
  return dispatchFloatOrBFloat16(t, f);
}

unsigned gridForWarps(int64_t groups) {
  const int64_t blocks = (groups + kWarpsPerBlock - 1) / kWarpsPerBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

}  // namespace

cudaError_t launchGroup(const GroupArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.groups == 0 || a.reduceCount == 0) return cudaSuccess;
  const bool known = dispatchMiscFloat(dtype, [&](auto t) {
    groupKernel<decltype(t)><<<gridForWarps(a.groups), kThreads, 0, stream>>>(a);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchLrn(const LrnArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  const bool known = dispatchMiscFloat(dtype, [&](auto t) {
    lrnKernel<decltype(t)><<<gridFor(a.count, kThreads), kThreads, 0, stream>>>(a);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchTopK(const TopKArgs& a, DataType dtype, cudaStream_t stream) {
  const int64_t count = a.outer * a.len * a.inner;
  if (count == 0 || a.k == 0) return cudaSuccess;
  const bool known = dispatchNumericOrBFloat16(dtype, [&](auto t) {
    topKKernel<decltype(t)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchDet(const void* x, void* y, double* scratch, int64_t batch, int64_t n, DataType dtype,
                      cudaStream_t stream) {
  if (batch == 0) return cudaSuccess;
  const bool known = dispatchMiscFloat(dtype, [&](auto t) {
    using T = decltype(t);
    detKernel<T><<<gridFor(batch, 64), 64, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), scratch, batch, n);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchEinsum(const EinsumArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  const bool known = dispatchMiscFloat(dtype, [&](auto t) {
    einsumKernel<decltype(t)><<<gridFor(a.count, kThreads), kThreads, 0, stream>>>(a);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchNll(const NllArgs& a, DataType dtype, cudaStream_t stream) {
  const bool known = dispatchMiscFloat(dtype, [&](auto t) {
    using T = decltype(t);
    if (a.reduction == LossReduction::kNone) {
      if (a.n * a.spatial > 0) nllElementKernel<T><<<gridFor(a.n * a.spatial, kThreads), kThreads, 0, stream>>>(a);
    } else {
      nllReduceKernel<T><<<1, kThreads, 0, stream>>>(a);
    }
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

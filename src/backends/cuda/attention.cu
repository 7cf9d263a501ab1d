// FusedAttention on the GPU: a flash-attention-style kernel. One block takes 32 query rows of one (batch, head); it
// walks the keys in tiles of 32, each K and V tile staged in shared memory as float32, and keeps per row the running
// maximum m, the running sum l of exp(s - m) and the output accumulator, rescaled by exp(m_old - m_new) whenever the
// maximum grows (online softmax). Every score, statistic and sum is float32 whatever the data type (DESIGN.md rule 6).
// Each warp owns 8 rows: lane c computes the scores against key c of the tile, then lane d accumulates output columns
// d, d+32, ... so that shared-memory reads are conflict-free (K rows are padded by one float).
#include <cmath>

#include "backends/cuda/attention.h"
#include "backends/cuda/cuda_device.cuh"

namespace kiln::backends::cuda {
namespace {

constexpr int kRowsPerBlock = 32;
constexpr int kKeysPerTile = 32;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerWarp = kRowsPerBlock / kWarps;

template <int kDim>
constexpr size_t sharedBytes() {
  return sizeof(float) *
         (kRowsPerBlock * kDim + kKeysPerTile * (kDim + 1) + kKeysPerTile * kDim + kRowsPerBlock * kKeysPerTile);
}

__device__ __forceinline__ float warpMax(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warpSum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

/// kDim: the head size rounded up to 32, 64, 128 or 256 (the padding is zero-filled). kMask: 0 none, 1 bool, 2 additive
/// of type T.
template <typename T, int kDim, int kMask>
__global__ void __launch_bounds__(kThreads) attentionKernel(const AttentionArgs a) {
  extern __shared__ float shared[];
  float* qs = shared;                          // [rows][kDim]
  float* ks = qs + kRowsPerBlock * kDim;       // [keys][kDim + 1]
  float* vs = ks + kKeysPerTile * (kDim + 1);  // [keys][kDim]
  float* ps = vs + kKeysPerTile * kDim;        // [rows][keys]
  constexpr int kCols = kDim / 32;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t pair = blockIdx.x;
  const int64_t b = pair / a.heads, h = pair % a.heads;
  const int64_t q0 = static_cast<int64_t>(blockIdx.y) * kRowsPerBlock;
  const T* q = static_cast<const T*>(a.q) + b * a.qStride[0] + h * a.qStride[1];
  const T* k = static_cast<const T*>(a.k) + b * a.kStride[0] + (h / a.kGroup) * a.kStride[1];
  const T* v = static_cast<const T*>(a.v) + b * a.vStride[0] + (h / a.vGroup) * a.vStride[1];
  const int64_t maskBase = b * a.maskStride[0] + h * a.maskStride[1];

  for (int idx = threadIdx.x; idx < kRowsPerBlock * kDim; idx += kThreads) {
    const int r = idx / kDim, d = idx % kDim;
    const int64_t i = q0 + r;
    qs[idx] = (i < a.queries && d < a.headDim) ? toFloat(q[i * a.qStride[2] + d]) : 0.f;
  }

  float o[kRowsPerWarp][kCols];
  float m[kRowsPerWarp], l[kRowsPerWarp];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    m[rr] = -INFINITY;
    l[rr] = 0.f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) o[rr][c] = 0.f;
  }
  // Causal: no row of this block attends past key q0 + 31.
  const int64_t keyEnd = a.causal ? min(a.keys, q0 + kRowsPerBlock) : a.keys;
  for (int64_t k0 = 0; k0 < keyEnd; k0 += kKeysPerTile) {
    __syncthreads();  // the previous tile is no longer read (and, the first
                      // time, Q is written)
    for (int idx = threadIdx.x; idx < kKeysPerTile * kDim; idx += kThreads) {
      const int c = idx / kDim, d = idx % kDim;
      const int64_t j = k0 + c;
      const bool in = j < a.keys;
      ks[c * (kDim + 1) + d] = (in && d < a.headDim) ? toFloat(k[j * a.kStride[2] + d]) : 0.f;
      vs[c * kDim + d] = (in && d < a.valueDim) ? toFloat(v[j * a.vStride[2] + d]) : 0.f;
    }
    __syncthreads();

    float acc[kRowsPerWarp];
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) acc[rr] = 0.f;
    const float* krow = ks + lane * (kDim + 1);
    const float* qrow = qs + warp * kRowsPerWarp * kDim;
#pragma unroll 4
    for (int d = 0; d < kDim; ++d) {
      const float kd = krow[d];
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) acc[rr] = fmaf(qrow[rr * kDim + d], kd, acc[rr]);
    }
    const int64_t j = k0 + lane;
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int r = warp * kRowsPerWarp + rr;
      const int64_t i = q0 + r;
      float s = acc[rr] * a.scale;
      if (j >= a.keys) {
        s = -INFINITY;
      } else {
        if (kMask != 0 && i < a.queries) {
          const int64_t at = maskBase + i * a.maskStride[2] + j * a.maskStride[3];
          if (kMask == 1 && !static_cast<const uint8_t*>(a.mask)[at]) s = -INFINITY;
          if (kMask == 2) s += toFloat(static_cast<const T*>(a.mask)[at]);
        }
        if (a.causal && j > i) s = -INFINITY;
      }
      // fmaxf skips a NaN score; its exp below is NaN, so the row's sum and output still turn NaN, as unfused.
      const float mNew = fmaxf(m[rr], warpMax(s));
      const float shift = mNew == -INFINITY ? 0.f : mNew;  // a row with nothing finite yet: exp(-inf) = 0, no NaN
      const float p = expf(s - shift);
      const float alpha = expf(m[rr] - shift);
      l[rr] = l[rr] * alpha + warpSum(p);
      m[rr] = mNew;
      ps[r * kKeysPerTile + lane] = p;
#pragma unroll
      for (int c = 0; c < kCols; ++c) o[rr][c] *= alpha;
    }
    __syncwarp();
    for (int c = 0; c < kKeysPerTile; ++c) {
      const float* vrow = vs + c * kDim + lane;
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        const float p = ps[(warp * kRowsPerWarp + rr) * kKeysPerTile + c];
#pragma unroll
        for (int col = 0; col < kCols; ++col) o[rr][col] = fmaf(p, vrow[col * 32], o[rr][col]);
      }
    }
    __syncwarp();
  }

  T* out = static_cast<T*>(a.out) + b * a.outStride[0] + h * a.outStride[1];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int64_t i = q0 + warp * kRowsPerWarp + rr;
    if (i >= a.queries) continue;
    // Softmax of a row with nothing to attend to is 0/0 (NaN); zeroMaskedRows makes it 0 (Where(IsNaN(p), 0, p)). No
    // keys at all is an empty sum: 0.
    const bool empty = !(l[rr] > 0.f) && a.keys > 0;
    const float fill = a.zeroMaskedRows ? 0.f : NAN;
    const float inv = 1.f / l[rr];
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int d = lane + c * 32;
      if (d >= a.valueDim) continue;
      const float value = a.keys == 0 ? 0.f : empty ? fill : o[rr][c] * inv;
      out[i * a.outStride[2] + d] = fromFloat<T>(value);
    }
  }
}

template <typename T, int kDim, int kMask>
cudaError_t configureOne() {
  return cudaFuncSetAttribute(attentionKernel<T, kDim, kMask>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(sharedBytes<kDim>()));
}

template <typename T, int kDim>
cudaError_t configureDim() {
  cudaError_t e = configureOne<T, kDim, 0>();
  if (e == cudaSuccess) e = configureOne<T, kDim, 1>();
  if (e == cudaSuccess) e = configureOne<T, kDim, 2>();
  return e;
}

template <typename T>
cudaError_t configureType() {
  cudaError_t e = configureDim<T, 32>();
  if (e == cudaSuccess) e = configureDim<T, 64>();
  if (e == cudaSuccess) e = configureDim<T, 128>();
  if (e == cudaSuccess) e = configureDim<T, 256>();
  return e;
}

template <typename T, int kDim>
void launchDim(const AttentionArgs& a, dim3 grid, cudaStream_t stream) {
  const size_t bytes = sharedBytes<kDim>();
  switch (a.maskKind) {
    case 1:
      attentionKernel<T, kDim, 1><<<grid, kThreads, bytes, stream>>>(a);
      break;
    case 2:
      attentionKernel<T, kDim, 2><<<grid, kThreads, bytes, stream>>>(a);
      break;
    default:
      attentionKernel<T, kDim, 0><<<grid, kThreads, bytes, stream>>>(a);
      break;
  }
}

}  // namespace

cudaError_t configureAttentionKernels() {
  cudaError_t e = configureType<float>();
  if (e == cudaSuccess) e = configureType<__half>();
  if (e == cudaSuccess) e = configureType<__nv_bfloat16>();
  return e;
}

cudaError_t launchAttention(const AttentionArgs& a, DataType dtype, cudaStream_t stream) {
  const int64_t pairs = a.batch * a.heads;
  if (pairs == 0 || a.queries == 0 || a.valueDim == 0) return cudaSuccess;
  const int64_t dim = a.headDim > a.valueDim ? a.headDim : a.valueDim;
  const int64_t tiles = (a.queries + kRowsPerBlock - 1) / kRowsPerBlock;
  if (dim > kMaxAttentionHeadDim || pairs > 0x7fffffff || tiles > 65535 || a.kGroup < 1 || a.vGroup < 1)
    return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(pairs), static_cast<unsigned>(tiles));
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto t) {
    using T = decltype(t);
    if (dim <= 32)
      launchDim<T, 32>(a, grid, stream);
    else if (dim <= 64)
      launchDim<T, 64>(a, grid, stream);
    else if (dim <= 128)
      launchDim<T, 128>(a, grid, stream);
    else
      launchDim<T, 256>(a, grid, stream);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

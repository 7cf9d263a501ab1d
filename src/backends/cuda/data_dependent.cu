// Kernels of the data-dependent ops. Correctness first: scans run in one block, TopK and Unique rank by counting
// (O(n^2) per line), NMS runs one block per (batch, class). Every kernel writes its count on the device.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "backends/cuda/data_dependent.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kScanThreads = 1024;
constexpr int kThreads = 256;

int blocksFor(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 32)); }

__device__ uint64_t loadBits(const void* p, int64_t i, int bytes) {
  const auto* b = static_cast<const unsigned char*>(p) + i * bytes;
  uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) v |= static_cast<uint64_t>(b[k]) << (8 * k);
  return v;
}

__device__ bool isNonZero(const void* p, int64_t i, int bytes, ElementKind kind) {
  uint64_t v = loadBits(p, i, bytes);
  if (kind == ElementKind::kSigned || kind == ElementKind::kUnsigned) return v != 0;
  const uint64_t sign = 1ull << (8 * bytes - 1);
  return (v & ~sign) != 0;
}

// An element as a double for ordering; 64-bit integers compare exactly through the `wide` path below.
__device__ double loadNumber(const void* p, int64_t i, int bytes, ElementKind kind) {
  const uint64_t v = loadBits(p, i, bytes);
  switch (kind) {
    case ElementKind::kFloat32: return __uint_as_float(static_cast<unsigned>(v));
    case ElementKind::kFloat64: return __longlong_as_double(static_cast<long long>(v));
    case ElementKind::kFloat16: {
      __half_raw r;
      r.x = static_cast<unsigned short>(v);
      return __half2float(__half(r));
    }
    case ElementKind::kBFloat16: return __uint_as_float(static_cast<unsigned>(v) << 16);
    case ElementKind::kSigned: {
      const int shift = 64 - 8 * bytes;
      return static_cast<double>(static_cast<int64_t>(v << shift) >> shift);
    }
    case ElementKind::kUnsigned: return static_cast<double>(v);
  }
  return 0;
}

// -1/0/1; NaN after every number and equal to NaN (as the CPU kernels order them).
__device__ int compareAt(const void* p, int64_t i, int64_t j, int bytes, ElementKind kind) {
  if (bytes == 8 && kind == ElementKind::kSigned) {
    const auto a = static_cast<int64_t>(loadBits(p, i, 8)), b = static_cast<int64_t>(loadBits(p, j, 8));
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (bytes == 8 && kind == ElementKind::kUnsigned) {
    const uint64_t a = loadBits(p, i, 8), b = loadBits(p, j, 8);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const double a = loadNumber(p, i, bytes, kind), b = loadNumber(p, j, bytes, kind);
  const bool na = a != a, nb = b != b;
  if (na || nb) return na == nb ? 0 : na ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

__device__ void copyElement(void* dst, int64_t di, const void* src, int64_t si, int bytes) {
  auto* d = static_cast<unsigned char*>(dst) + di * bytes;
  const auto* s = static_cast<const unsigned char*>(src) + si * bytes;
  for (int k = 0; k < bytes; ++k) d[k] = s[k];
}

// Exclusive scan of one value per thread over a block of kScanThreads; returns the total through `total`.
__device__ int64_t blockExclusiveScan(int64_t value, int64_t* shared, int64_t* total) {
  const int t = threadIdx.x;
  shared[t] = value;
  __syncthreads();
  for (int offset = 1; offset < kScanThreads; offset <<= 1) {
    const int64_t add = t >= offset ? shared[t - offset] : 0;
    __syncthreads();
    shared[t] += add;
    __syncthreads();
  }
  const int64_t inclusive = shared[t];
  *total = shared[kScanThreads - 1];
  __syncthreads();
  return inclusive - value;
}

__global__ void nonZeroKernel(NonZeroArgs a) {
  __shared__ int64_t scan[kScanThreads];
  const int64_t chunk = (a.count + kScanThreads - 1) / kScanThreads;
  const int64_t begin = threadIdx.x * chunk, end = min(a.count, begin + chunk);
  int64_t mine = 0;
  for (int64_t i = begin; i < end; ++i) mine += isNonZero(a.x, i, a.elementBytes, a.kind);
  int64_t total = 0;
  int64_t at = blockExclusiveScan(mine, scan, &total);
  for (int64_t i = begin; i < end; ++i) {
    if (!isNonZero(a.x, i, a.elementBytes, a.kind)) continue;
    int64_t rest = i;
    for (int d = a.rank - 1; d >= 0; --d) {
      a.out[d * total + at] = rest % a.dims[d];
      rest /= a.dims[d];
    }
    ++at;
  }
  if (threadIdx.x == 0 && a.countOut) *a.countOut = total;
}

__global__ void compressScanKernel(CompressDeviceArgs a) {
  __shared__ int64_t scan[kScanThreads];
  const int64_t n = min(a.condLen, a.len);
  const int64_t chunk = (n + kScanThreads - 1) / kScanThreads;
  const int64_t begin = threadIdx.x * chunk, end = min(n, begin + chunk);
  int64_t mine = 0;
  for (int64_t i = begin; i < end; ++i) mine += a.condition[i] != 0;
  int64_t total = 0;
  int64_t at = blockExclusiveScan(mine, scan, &total);
  for (int64_t i = begin; i < end; ++i) {
    a.positions[i] = at;
    at += a.condition[i] != 0;
  }
  if (threadIdx.x == 0) {
    a.positions[a.condLen] = total;
    if (a.countOut) *a.countOut = total;
  }
}

__global__ void compressScatterKernel(CompressDeviceArgs a) {
  const int64_t n = min(a.condLen, a.len);
  const int64_t kept = a.positions[a.condLen];
  const int64_t count = a.outer * n * a.inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t in = e % a.inner, i = (e / a.inner) % n, o = e / (a.inner * n);
    if (!a.condition[i]) continue;
    copyElement(a.y, (o * kept + a.positions[i]) * a.inner + in, a.x, (o * a.len + i) * a.inner + in,
                a.elementBytes);
  }
}

__global__ void topKKernel(TopKDeviceArgs a) {
  const int64_t k = *a.k;
  const int64_t count = a.outer * a.len * a.inner;
  if (blockIdx.x == 0 && threadIdx.x == 0 && a.countOut) *a.countOut = k;  // out of range: refused after the run
  if (k < 0 || k > a.len) return;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t in = e % a.inner, j = (e / a.inner) % a.len, o = e / (a.inner * a.len);
    const int64_t base = o * a.len * a.inner + in;
    int64_t rank = 0;
    for (int64_t q = 0; q < a.len; ++q) {
      if (q == j) continue;
      const int c = compareAt(a.x, base + q * a.inner, base + j * a.inner, a.elementBytes, a.kind);
      const bool before = c != 0 ? (a.largest ? c > 0 : c < 0) : q < j;
      rank += before;
    }
    if (rank >= k) continue;
    const int64_t at = (o * k + rank) * a.inner + in;
    copyElement(a.values, at, a.x, base + j * a.inner, a.elementBytes);
    a.indices[at] = j;
  }
}

// Slices a and b of Unique's [outer, len, inner] view, compared in (outer, inner) order.
__device__ int compareSlices(const UniqueArgs& a, int64_t s, int64_t t) {
  for (int64_t o = 0; o < a.outer; ++o)
    for (int64_t in = 0; in < a.inner; ++in) {
      const int c = compareAt(a.x, (o * a.len + s) * a.inner + in, (o * a.len + t) * a.inner + in, a.elementBytes,
                              a.kind);
      if (c) return c;
    }
  return 0;
}

__global__ void uniqueFirstKernel(UniqueArgs a) {
  int64_t* first = a.workspace;
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; s < a.len;
       s += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t f = s;
    for (int64_t t = 0; t < s; ++t)
      if (compareSlices(a, t, s) == 0) {
        f = t;
        break;
      }
    first[s] = f;
  }
}

__global__ void uniquePositionKernel(UniqueArgs a) {
  int64_t *first = a.workspace, *position = a.workspace + a.len, *members = a.workspace + 2 * a.len;
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; s < a.len;
       s += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (first[s] != s) continue;
    int64_t pos = 0, n = 0;
    for (int64_t t = 0; t < a.len; ++t) {
      if (first[t] == s) ++n;
      if (first[t] != t || t == s) continue;
      pos += a.sorted ? compareSlices(a, t, s) < 0 : t < s;
    }
    position[s] = pos;
    members[s] = n;
    atomicAdd(reinterpret_cast<unsigned long long*>(a.workspace + 3 * a.len), 1ull);
  }
}

__global__ void uniqueWriteKernel(UniqueArgs a) {
  const int64_t *first = a.workspace, *position = a.workspace + a.len, *members = a.workspace + 2 * a.len;
  const int64_t unique = a.workspace[3 * a.len];
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; s < a.len;
       s += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (s == 0 && a.countOut) *a.countOut = unique;
    const int64_t f = first[s];
    if (a.inverse) a.inverse[s] = position[f];
    if (f != s) continue;
    const int64_t p = position[s];
    if (a.indices) a.indices[p] = s;
    if (a.counts) a.counts[p] = members[s];
    for (int64_t o = 0; o < a.outer; ++o)
      for (int64_t in = 0; in < a.inner; ++in)
        copyElement(a.y, (o * unique + p) * a.inner + in, a.x, (o * a.len + s) * a.inner + in, a.elementBytes);
  }
}

struct Corners {
  float yMin, xMin, yMax, xMax;
};

__device__ Corners cornersAt(const float* b, bool center) {
  if (center) {
    const float hw = __fmul_rn(b[2], 0.5f), hh = __fmul_rn(b[3], 0.5f);
    return {__fsub_rn(b[1], hh), __fsub_rn(b[0], hw), __fadd_rn(b[1], hh), __fadd_rn(b[0], hw)};
  }
  return {fminf(b[0], b[2]), fminf(b[1], b[3]), fmaxf(b[0], b[2]), fmaxf(b[1], b[3])};
}

// The CPU kernel's test, with every rounding explicit so that no contraction changes a borderline answer.
__device__ bool suppresses(const Corners& a, const Corners& b, float iou) {
  const float ixMin = fmaxf(a.xMin, b.xMin), ixMax = fminf(a.xMax, b.xMax);
  const float iyMin = fmaxf(a.yMin, b.yMin), iyMax = fminf(a.yMax, b.yMax);
  if (ixMax <= ixMin || iyMax <= iyMin) return false;
  const float areaA = __fmul_rn(__fsub_rn(a.xMax, a.xMin), __fsub_rn(a.yMax, a.yMin));
  const float areaB = __fmul_rn(__fsub_rn(b.xMax, b.xMin), __fsub_rn(b.yMax, b.yMin));
  if (areaA <= 0 || areaB <= 0) return false;
  const float inter = __fmul_rn(__fsub_rn(ixMax, ixMin), __fsub_rn(iyMax, iyMin));
  const float uni = __fsub_rn(__fadd_rn(areaA, areaB), inter);
  if (uni <= 0) return false;
  return __fdiv_rn(inter, uni) > iou;
}

// One block per (batch, class): candidates ranked by score (ties: lower index), then greedy selection.
__global__ void nmsClassKernel(NmsArgs a) {
  const int64_t bc = blockIdx.x, b = bc / a.classes;
  const int64_t boxes = a.boxCount;
  int64_t* order = a.workspace + bc * (boxes + 2);
  int64_t* selectedCount = order + boxes;
  int64_t* candidateCount = order + boxes + 1;
  const float* scores = a.scores + bc * boxes;
  const bool thresholded = a.scoreThreshold != nullptr;
  const float scoreThreshold = thresholded ? *a.scoreThreshold : 0.0f;
  const float iou = a.iouThreshold ? *a.iouThreshold : 0.0f;
  const int64_t wanted = a.maxOutput ? *a.maxOutput : 0;
  const int64_t maxOut = wanted < 0 ? 0 : wanted > boxes ? boxes : wanted;
  __shared__ unsigned long long valid;
  __shared__ int suppressed;
  if (threadIdx.x == 0) valid = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < boxes; i += blockDim.x) {
    if (thresholded && !(scores[i] > scoreThreshold)) continue;
    int64_t rank = 0;
    for (int64_t j = 0; j < boxes; ++j) {
      if (j == i || (thresholded && !(scores[j] > scoreThreshold))) continue;
      rank += scores[j] > scores[i] || (scores[j] == scores[i] && j < i);
    }
    order[rank] = i;
    atomicAdd(&valid, 1ull);
  }
  __syncthreads();
  const int64_t candidates = static_cast<int64_t>(valid);
  // Selected boxes are moved to the front of `order`: order[0, kept) are the selections so far.
  int64_t kept = 0;
  for (int64_t r = 0; r < candidates && kept < maxOut; ++r) {
    const int64_t i = order[r];
    const Corners ci = cornersAt(a.boxes + (b * boxes + i) * 4, a.centerPointBox);
    if (threadIdx.x == 0) suppressed = 0;
    __syncthreads();
    for (int64_t s = threadIdx.x; s < kept; s += blockDim.x)
      if (suppresses(cornersAt(a.boxes + (b * boxes + order[s]) * 4, a.centerPointBox), ci, iou)) suppressed = 1;
    __syncthreads();
    if (!suppressed) {
      __syncthreads();
      if (threadIdx.x == 0) order[kept] = i;
      ++kept;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    *selectedCount = kept;
    *candidateCount = candidates;
  }
}

// One block: offsets of every (batch, class) in the output, then the rows.
__global__ void nmsWriteKernel(NmsArgs a) {
  const int64_t groups = a.batches * a.classes, boxes = a.boxCount;
  if (threadIdx.x == 0) {
    int64_t at = 0;
    for (int64_t bc = 0; bc < groups; ++bc) {
      int64_t* slot = a.workspace + bc * (boxes + 2) + boxes + 1;  // candidate count, reused as the offset
      const int64_t n = a.workspace[bc * (boxes + 2) + boxes];
      *slot = at;
      at += n;
    }
    if (a.countOut) *a.countOut = at;
  }
  __syncthreads();
  for (int64_t bc = 0; bc < groups; ++bc) {
    const int64_t* order = a.workspace + bc * (boxes + 2);
    const int64_t n = order[boxes], offset = order[boxes + 1];
    for (int64_t s = threadIdx.x; s < n; s += blockDim.x) {
      int64_t* row = a.selected + (offset + s) * 3;
      row[0] = bc / a.classes;
      row[1] = bc % a.classes;
      row[2] = order[s];
    }
  }
}

}  // namespace

cudaError_t launchNonZero(const NonZeroArgs& a, cudaStream_t stream) {
  nonZeroKernel<<<1, kScanThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launchCompressDevice(const CompressDeviceArgs& a, cudaStream_t stream) {
  compressScanKernel<<<1, kScanThreads, 0, stream>>>(a);
  const int64_t count = a.outer * std::min(a.condLen, a.len) * a.inner;
  if (count > 0) compressScatterKernel<<<blocksFor(count), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launchTopKDevice(const TopKDeviceArgs& a, cudaStream_t stream) {
  const int64_t count = std::max<int64_t>(a.outer * a.len * a.inner, 1);
  topKKernel<<<blocksFor(count), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launchUnique(const UniqueArgs& a, cudaStream_t stream) {
  cudaError_t e = cudaMemsetAsync(a.workspace + 3 * a.len, 0, sizeof(int64_t), stream);
  if (e != cudaSuccess) return e;
  const int blocks = blocksFor(std::max<int64_t>(a.len, 1));
  uniqueFirstKernel<<<blocks, kThreads, 0, stream>>>(a);
  uniquePositionKernel<<<blocks, kThreads, 0, stream>>>(a);
  uniqueWriteKernel<<<blocks, kThreads, 0, stream>>>(a);
  if (a.len == 0 && a.countOut) return cudaMemsetAsync(a.countOut, 0, sizeof(int64_t), stream);
  return cudaGetLastError();
}

cudaError_t launchNms(const NmsArgs& a, cudaStream_t stream) {
  const int64_t groups = a.batches * a.classes;
  if (groups > 0) nmsClassKernel<<<static_cast<unsigned>(groups), kThreads, 0, stream>>>(a);
  nmsWriteKernel<<<1, kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

// Index-driven data-movement kernels. Plain moves go by word size (any dtype); scatter reductions combine with
// atomics so duplicate indices accumulate correctly (in an unspecified order, as floating-point atomics do).
#include <type_traits>

#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/indexing.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

template <int Bytes> struct Word;
template <> struct Word<1> { using type = uint8_t; };
template <> struct Word<2> { using type = uint16_t; };
template <> struct Word<4> { using type = uint32_t; };
template <> struct Word<8> { using type = uint64_t; };

template <typename F> cudaError_t byWordSize(size_t bytes, F&& launch) {
  switch (bytes) {
    case 1: launch(Word<1>::type{}); break;
    case 2: launch(Word<2>::type{}); break;
    case 4: launch(Word<4>::type{}); break;
    case 8: launch(Word<8>::type{}); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

/// Index i of an int64 or int32 tensor, mapped from [-dim, dim) to [0, dim); -1 when out of range.
__device__ __forceinline__ int64_t indexAt(const void* p, bool is64, int64_t i, int64_t dim) {
  int64_t v = is64 ? static_cast<const int64_t*>(p)[i] : static_cast<const int32_t*>(p)[i];
  if (v < 0) v += dim;
  return (v >= 0 && v < dim) ? v : -1;
}

template <typename T> __device__ T combineValues(ScatterReduction r, T a, T b) {
  switch (r) {
    case ScatterReduction::kAdd: return a + b;
    case ScatterReduction::kMul: return a * b;
    case ScatterReduction::kMax: return a > b ? a : b;
    case ScatterReduction::kMin: return a < b ? a : b;
    default: return b;
  }
}

/// Float16 combines in float32 and rounds once per update, as the CPU backend does.
template <> __device__ __half combineValues<__half>(ScatterReduction r, __half a, __half b) {
  return __float2half_rn(combineValues(r, __half2float(a), __half2float(b)));
}

/// *p = combine(*p, v) atomically, through a compare-and-swap on the value's bits (16-bit CAS needs sm_70+).
template <typename T> __device__ void atomicCombine(T* p, T v, ScatterReduction r) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "scatter reductions combine 2/4/8-byte values");
  if constexpr (sizeof(T) == 2) {
    auto* word = reinterpret_cast<unsigned short int*>(p);
    unsigned short int old = *word, assumed;
    do {
      assumed = old;
      T current;
      memcpy(&current, &assumed, 2);
      const T next = combineValues(r, current, v);
      unsigned short int bits;
      memcpy(&bits, &next, 2);
      old = atomicCAS(word, assumed, bits);
    } while (old != assumed);
  } else if constexpr (sizeof(T) == 4) {
    auto* word = reinterpret_cast<unsigned int*>(p);
    unsigned int old = *word, assumed;
    do {
      assumed = old;
      T current;
      memcpy(&current, &assumed, 4);
      const T next = combineValues(r, current, v);
      unsigned int bits;
      memcpy(&bits, &next, 4);
      old = atomicCAS(word, assumed, bits);
    } while (old != assumed);
  } else {
    auto* word = reinterpret_cast<unsigned long long*>(p);
    unsigned long long old = *word, assumed;
    do {
      assumed = old;
      T current;
      memcpy(&current, &assumed, 8);
      const T next = combineValues(r, current, v);
      unsigned long long bits;
      memcpy(&bits, &next, 8);
      old = atomicCAS(word, assumed, bits);
    } while (old != assumed);
  }
}

__device__ __forceinline__ int64_t elementsOffset(const ElementsArgs& a, int64_t i, int64_t index) {
  int64_t offset = 0;
  for (int d = a.rank - 1; d >= 0; --d) {
    const int64_t c = i % a.indexDims[d];
    i /= a.indexDims[d];
    offset += (d == a.axis ? index : c) * a.dataStrides[d];
  }
  return offset;
}

template <typename W> __global__ void gatherElementsKernel(ElementsArgs a) {
  const W* data = static_cast<const W*>(a.data);
  W* out = static_cast<W*>(a.out);
  KILN_GRID_STRIDE(i, a.count) {
    const int64_t index = indexAt(a.indices, a.indices64, i, a.axisDim);
    out[i] = index < 0 ? W(0) : data[elementsOffset(a, i, index)];
  }
}

template <typename T, bool Reduce> __global__ void scatterElementsKernel(ElementsArgs a) {
  const T* updates = static_cast<const T*>(a.updates);
  T* out = static_cast<T*>(a.out);
  KILN_GRID_STRIDE(i, a.count) {
    const int64_t index = indexAt(a.indices, a.indices64, i, a.axisDim);
    if (index < 0) continue;
    if constexpr (Reduce) atomicCombine(out + elementsOffset(a, i, index), updates[i], a.reduction);
    else out[elementsOffset(a, i, index)] = updates[i];  // duplicates: one of them wins (ONNX leaves it undefined)
  }
}

/// Offset in the data of tuple t's slice, or -1 when one of its indices is out of range.
__device__ __forceinline__ int64_t tupleOffset(const NdArgs& a, int64_t t) {
  int64_t offset = (a.perBatch > 0 ? t / a.perBatch : 0) * a.batchStride;
  for (int j = 0; j < a.k; ++j) {
    const int64_t index = indexAt(a.indices, a.indices64, t * a.k + j, a.indexedDims[j]);
    if (index < 0) return -1;
    offset += index * a.indexedStrides[j];
  }
  return offset;
}

template <typename W> __global__ void gatherNDKernel(NdArgs a, int64_t count) {
  const W* data = static_cast<const W*>(a.data);
  W* out = static_cast<W*>(a.out);
  KILN_GRID_STRIDE(i, count) {
    const int64_t base = tupleOffset(a, i / a.slice);
    out[i] = base < 0 ? W(0) : data[base + i % a.slice];
  }
}

template <typename T, bool Reduce> __global__ void scatterNDKernel(NdArgs a, int64_t count) {
  const T* updates = static_cast<const T*>(a.updates);
  T* out = static_cast<T*>(a.out);
  KILN_GRID_STRIDE(i, count) {
    const int64_t base = tupleOffset(a, i / a.slice);
    if (base < 0) continue;
    if constexpr (Reduce) atomicCombine(out + base + i % a.slice, updates[i], a.reduction);
    else out[base + i % a.slice] = updates[i];
  }
}

template <typename W> __global__ void triluKernel(TriluArgs a) {
  const W* src = static_cast<const W*>(a.src);
  W* dst = static_cast<W*>(a.dst);
  const int64_t k = a.k ? *a.k : 0;
  KILN_GRID_STRIDE(idx, a.count) {
    const int64_t j = idx % a.cols, i = (idx / a.cols) % a.rows;
    const bool keep = a.upper ? (j - i >= k) : (j - i <= k);  // j - i never overflows, whatever k is
    dst[idx] = keep ? src[idx] : W(0);
  }
}

template <typename W, typename I> __global__ void oneHotKernel(OneHotArgs a, int64_t count) {
  const I* indices = static_cast<const I*>(a.indices);
  const W* values = static_cast<const W*>(a.values);
  W* out = static_cast<W*>(a.out);
  KILN_GRID_STRIDE(i, count) {
    const int64_t in = i % a.inner, d = (i / a.inner) % a.depth, o = i / (a.inner * a.depth);
    int64_t index = static_cast<int64_t>(load(indices, o * a.inner + in));  // floats truncate, as numpy's astype
    if (index < 0) index += a.depth;
    out[i] = values[index == d ? 1 : 0];
  }
}

template <typename W> __global__ void reverseSequenceKernel(ReverseSequenceArgs a, int64_t count) {
  const W* src = static_cast<const W*>(a.src);
  W* dst = static_cast<W*>(a.dst);
  KILN_GRID_STRIDE(i, count) {
    const int64_t e = i % a.inner, row = i / a.inner;
    const int64_t t = a.timeMajor ? row / a.batch : row % a.steps;
    const int64_t b = a.timeMajor ? row % a.batch : row / a.steps;
    const int64_t len = a.lens[b];
    if (len < 0 || len > a.steps) {
      dst[i] = W(0);
      continue;
    }
    const int64_t from = t < len ? len - 1 - t : t;
    const int64_t fromRow = a.timeMajor ? from * a.batch + b : b * a.steps + from;
    dst[i] = src[fromRow * a.inner + e];
  }
}

template <typename W> __global__ void compressKernel(CompressArgs a, int64_t count) {
  const W* src = static_cast<const W*>(a.src);
  W* dst = static_cast<W*>(a.dst);
  const int64_t limit = a.inLen < a.conditionLength ? a.inLen : a.conditionLength;
  KILN_GRID_STRIDE(i, count) {
    const int64_t e = i % a.inner, j = (i / a.inner) % a.outLen, o = i / (a.inner * a.outLen);
    int64_t seen = -1, slot = -1;
    for (int64_t s = 0; s < limit && slot < 0; ++s)  // the j-th true condition (short rows: a scan is cheap)
      if (a.condition[s] && ++seen == j) slot = s;
    dst[i] = slot < 0 ? W(0) : src[(o * a.inLen + slot) * a.inner + e];
  }
}

template <typename T> __global__ void eyeLikeKernel(T* dst, int64_t rows, int64_t cols, int64_t k) {
  KILN_GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i % cols;
    dst[i] = convert<T>(static_cast<Compute<T>>(c - r == k ? 1 : 0));
  }
}

/// Calls f(T{}) with the arithmetic type for scatter reductions.
template <typename F> bool dispatchReducible(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: f(float{}); return true;
    case DataType::kFloat16: f(__half{}); return true;
    case DataType::kFloat64: f(double{}); return true;
    case DataType::kInt64: f(int64_t{}); return true;
    case DataType::kInt32: f(int32_t{}); return true;
    default: return false;
  }
}

}  // namespace

cudaError_t launchGatherElements(const ElementsArgs& a, size_t elementBytes, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  return byWordSize(elementBytes, [&](auto w) {
    gatherElementsKernel<decltype(w)><<<gridFor(a.count, kThreads), kThreads, 0, stream>>>(a);
  });
}

cudaError_t launchScatterElements(const ElementsArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  const unsigned grid = gridFor(a.count, kThreads);
  if (a.reduction == ScatterReduction::kNone)
    return byWordSize(dataTypeSize(dtype), [&](auto w) { scatterElementsKernel<decltype(w), false><<<grid, kThreads, 0, stream>>>(a); });
  const bool known = dispatchReducible(dtype, [&](auto t) { scatterElementsKernel<decltype(t), true><<<grid, kThreads, 0, stream>>>(a); });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchGatherND(const NdArgs& a, size_t elementBytes, cudaStream_t stream) {
  const int64_t count = a.tuples * a.slice;
  if (count == 0) return cudaSuccess;
  return byWordSize(elementBytes, [&](auto w) {
    gatherNDKernel<decltype(w)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
}

cudaError_t launchScatterND(const NdArgs& a, DataType dtype, cudaStream_t stream) {
  const int64_t count = a.tuples * a.slice;
  if (count == 0) return cudaSuccess;
  const unsigned grid = gridFor(count, kThreads);
  if (a.reduction == ScatterReduction::kNone)
    return byWordSize(dataTypeSize(dtype), [&](auto w) { scatterNDKernel<decltype(w), false><<<grid, kThreads, 0, stream>>>(a, count); });
  const bool known = dispatchReducible(dtype, [&](auto t) { scatterNDKernel<decltype(t), true><<<grid, kThreads, 0, stream>>>(a, count); });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchTrilu(const TriluArgs& a, size_t elementBytes, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  return byWordSize(elementBytes, [&](auto w) {
    triluKernel<decltype(w)><<<gridFor(a.count, kThreads), kThreads, 0, stream>>>(a);
  });
}

cudaError_t launchOneHot(const OneHotArgs& a, DataType indexType, size_t elementBytes, cudaStream_t stream) {
  const int64_t count = a.outer * a.depth * a.inner;
  if (count == 0) return cudaSuccess;
  bool known = true;
  const cudaError_t e = byWordSize(elementBytes, [&](auto w) {
    known = dispatchNumeric(indexType, [&](auto i) {
      oneHotKernel<decltype(w), decltype(i)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
    });
  });
  return known ? e : cudaErrorInvalidValue;
}

cudaError_t launchReverseSequence(const ReverseSequenceArgs& a, size_t elementBytes, cudaStream_t stream) {
  const int64_t count = a.steps * a.batch * a.inner;
  if (count == 0) return cudaSuccess;
  return byWordSize(elementBytes, [&](auto w) {
    reverseSequenceKernel<decltype(w)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
}

cudaError_t launchCompress(const CompressArgs& a, size_t elementBytes, cudaStream_t stream) {
  const int64_t count = a.outer * a.outLen * a.inner;
  if (count == 0) return cudaSuccess;
  return byWordSize(elementBytes, [&](auto w) {
    compressKernel<decltype(w)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
}

cudaError_t launchEyeLike(void* dst, int64_t rows, int64_t cols, int64_t k, DataType dtype, cudaStream_t stream) {
  if (rows * cols == 0) return cudaSuccess;
  bool known = dispatchNumeric(dtype, [&](auto t) {
    using T = decltype(t);
    eyeLikeKernel<T><<<gridFor(rows * cols, kThreads), kThreads, 0, stream>>>(static_cast<T*>(dst), rows, cols, k);
  });
  if (!known && dtype == DataType::kBool) {
    eyeLikeKernel<bool><<<gridFor(rows * cols, kThreads), kThreads, 0, stream>>>(static_cast<bool*>(dst), rows, cols, k);
    known = true;
  }
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

// Data-movement kernels: the strided copy (Transpose, Expand, Slice, Concat, Split, Tile, ...), Gather, Pad,
// Resize, and the generator fills. Elements are moved as opaque words of 1, 2, 4 or 8 bytes.
#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/data_movement.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

template <int Bytes> struct Word;
template <> struct Word<1> { using type = uint8_t; };
template <> struct Word<2> { using type = uint16_t; };
template <> struct Word<4> { using type = uint32_t; };
template <> struct Word<8> { using type = uint64_t; };

template <typename W>
__global__ void stridedCopyKernel(StridedCopy c, int64_t count) {
  const W* src = static_cast<const W*>(c.src);
  W* dst = static_cast<W*>(c.dst);
  KILN_GRID_STRIDE(i, count) {
    int64_t rest = i, s = c.srcBase, d = c.dstBase;
    for (int k = c.rank - 1; k >= 0; --k) {
      const int64_t idx = rest % c.dims[k];
      rest /= c.dims[k];
      s += (c.srcModulo[k] > 0 ? idx % c.srcModulo[k] : idx) * c.srcStrides[k];
      d += idx * c.dstStrides[k];
    }
    dst[d] = src[s];
  }
}


// A batched 2-D transpose, out[b][c][r] = in[b][r][c], through a TR x TC tile in shared memory: the reads walk input
// rows and the writes walk output rows, so both are coalesced. The +1 column skews rows across banks. Small row
// (or column) counts get a flat tile (8 x 256 or 256 x 8) so the NCHW<->NHWC edges of 3-channel images still move
// whole cache lines per block.
struct BatchedTranspose {
  int64_t batch = 1, rows = 1, cols = 1;
  int64_t srcBatchStride = 0, srcRowStride = 0, dstBatchStride = 0, dstRowStride = 0;
  const void* src = nullptr;
  void* dst = nullptr;
};

template <typename W, int TR, int TC>
__global__ void tiledTransposeKernel(BatchedTranspose t, int64_t tilesR, int64_t tilesC) {
  __shared__ W tile[TR][TC + 1];
  const W* src = static_cast<const W*>(t.src);
  W* dst = static_cast<W*>(t.dst);
  const int64_t total = t.batch * tilesR * tilesC;
  const int tid = threadIdx.x;
  for (int64_t k = blockIdx.x; k < total; k += gridDim.x) {
    const int64_t tc = k % tilesC, tr = (k / tilesC) % tilesR, b = k / (tilesC * tilesR);
    const int64_t r0 = tr * TR, c0 = tc * TC;
    const int h = static_cast<int>(t.rows - r0 < TR ? t.rows - r0 : TR);
    const int w = static_cast<int>(t.cols - c0 < TC ? t.cols - c0 : TC);
    const W* in = src + b * t.srcBatchStride + r0 * t.srcRowStride + c0;
    W* out = dst + b * t.dstBatchStride + c0 * t.dstRowStride + r0;
    for (int e = tid; e < h * w; e += blockDim.x) {  // input rows, columns fastest
      const int r = e / w, c = e - r * w;
      tile[r][c] = in[r * t.srcRowStride + c];
    }
    __syncthreads();
    for (int e = tid; e < h * w; e += blockDim.x) {  // output rows (input columns), input rows fastest
      const int c = e / h, r = e - c * h;
      out[c * t.dstRowStride + r] = tile[r][c];
    }
    __syncthreads();
  }
}

template <typename W, int TR, int TC> void launchTiledTranspose(const BatchedTranspose& t, cudaStream_t stream) {
  const int64_t tilesR = (t.rows + TR - 1) / TR, tilesC = (t.cols + TC - 1) / TC;
  const int64_t total = t.batch * tilesR * tilesC;
  const unsigned grid = static_cast<unsigned>(total < (1 << 24) ? total : (1 << 24));
  tiledTransposeKernel<W, TR, TC><<<grid, kThreads, 0, stream>>>(t, tilesR, tilesC);
}

/// Recognizes a (simplified) strided copy that is a batched 2-D transpose: output view [B, X, Y] with Y contiguous in
/// the output and X contiguous in the input. Fills `t` (input rows = Y, columns = X) and returns true when it is.
bool asBatchedTranspose(const StridedCopy& c, BatchedTranspose& t) {
  if (c.rank != 2 && c.rank != 3) return false;
  for (int k = 0; k < c.rank; ++k)
    if (c.srcModulo[k] > 0) return false;
  const int x = c.rank - 2, y = c.rank - 1;
  if (c.srcStrides[x] != 1 || c.dstStrides[y] != 1 || c.dims[x] < 2 || c.dims[y] < 2) return false;
  t.batch = c.rank == 3 ? c.dims[0] : 1;
  t.srcBatchStride = c.rank == 3 ? c.srcStrides[0] : 0;
  t.dstBatchStride = c.rank == 3 ? c.dstStrides[0] : 0;
  t.rows = c.dims[y];
  t.cols = c.dims[x];
  t.srcRowStride = c.srcStrides[y];
  t.dstRowStride = c.dstStrides[x];
  return true;
}

template <typename W, typename I>
__global__ void gatherKernel(GatherArgs a, int64_t count) {
  const W* data = static_cast<const W*>(a.data);
  const I* indices = static_cast<const I*>(a.indices);
  W* out = static_cast<W*>(a.out);
  KILN_GRID_STRIDE(i, count) {
    const int64_t inner = i % a.inner;
    const int64_t j = (i / a.inner) % a.indexCount;
    const int64_t o = i / (a.inner * a.indexCount);
    int64_t index = static_cast<int64_t>(indices[j]);
    if (index < 0) index += a.axisDim;
    out[i] = (index >= 0 && index < a.axisDim) ? data[(o * a.axisDim + index) * a.inner + inner] : W(0);
  }
}

template <typename W>
__global__ void padKernel(PadArgs a) {
  const W* src = static_cast<const W*>(a.src);
  W* dst = static_cast<W*>(a.dst);
  const W fill = a.constantValue ? *static_cast<const W*>(a.constantValue) : W(0);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t rest = i, offset = 0;
    bool inside = true;
    for (int k = a.rank - 1; k >= 0; --k) {
      const int64_t n = a.inDims[k];
      int64_t j = rest % a.outDims[k] - a.padBegin[k];
      rest /= a.outDims[k];
      if (j < 0 || j >= n) {
        switch (a.mode) {
          case PadMode::kConstant: inside = false; break;
          case PadMode::kEdge: j = j < 0 ? 0 : n - 1; break;
          case PadMode::kWrap: j = ((j % n) + n) % n; break;
          case PadMode::kReflect:
            if (n == 1) {
              j = 0;
            } else {
              const int64_t period = 2 * (n - 1);
              j = ((j % period) + period) % period;
              if (j >= n) j = period - j;
            }
            break;
        }
      }
      offset += j * a.inStrides[k];
    }
    dst[i] = inside ? src[offset] : fill;
  }
}

__device__ float originalCoordinate(const ResizeArgs& a, int k, int64_t x) {
  const float scale = a.scales[k];
  const float outLen = static_cast<float>(a.outDims[k]);
  const float inLen = static_cast<float>(a.inDims[k]);
  const float xf = static_cast<float>(x);
  switch (a.coordinates) {
    case ResizeCoordinates::kHalfPixel: return (xf + 0.5f) / scale - 0.5f;
    case ResizeCoordinates::kPytorchHalfPixel: return a.outDims[k] > 1 ? (xf + 0.5f) / scale - 0.5f : 0.f;
    case ResizeCoordinates::kAlignCorners: return a.outDims[k] == 1 ? 0.f : xf * (inLen - 1.f) / (outLen - 1.f);
    case ResizeCoordinates::kAsymmetric: return xf / scale;
    case ResizeCoordinates::kTfHalfPixelForNearest: return (xf + 0.5f) / scale;
    case ResizeCoordinates::kHalfPixelSymmetric: {
      const float adjustment = outLen / (scale * inLen);
      const float offset = inLen * 0.5f * (1.f - adjustment);
      return offset + (xf + 0.5f) / scale - 0.5f;
    }
    case ResizeCoordinates::kTfCropAndResize: {
      const float s = a.roiStart[k], e = a.roiEnd[k];
      return a.outDims[k] > 1 ? s * (inLen - 1.f) + xf * (e - s) * (inLen - 1.f) / (outLen - 1.f)
                              : 0.5f * (s + e) * (inLen - 1.f);
    }
  }
  return xf;
}

/// tf_crop_and_resize: a coordinate outside the input gets the extrapolation value.
__device__ __forceinline__ bool outsideCrop(const ResizeArgs& a, int k, float x) {
  return a.coordinates == ResizeCoordinates::kTfCropAndResize && (x < 0.f || x > static_cast<float>(a.inDims[k] - 1));
}

/// The interpolation taps of one dim: up to 4 input indices and weights (ONNX's cubic kernel with coefficient A).
__device__ int resizeTaps(const ResizeArgs& a, int k, float x, int64_t* index, float* weight) {
  const int64_t last = a.inDims[k] - 1;
  if (a.mode == ResizeMode::kLinear) {
    x = x < 0.f ? 0.f : (x > static_cast<float>(last) ? static_cast<float>(last) : x);
    const int64_t lo = static_cast<int64_t>(x) < last ? static_cast<int64_t>(x) : last;
    const int64_t hi = lo + 1 < last ? lo + 1 : last;
    index[0] = lo;
    index[1] = hi;
    weight[0] = lo == hi ? 0.5f : static_cast<float>(hi) - x;
    weight[1] = lo == hi ? 0.5f : x - static_cast<float>(lo);
    return 2;
  }
  const float fl = floorf(x), s = x - fl, A = a.cubicA;
  const int64_t base = static_cast<int64_t>(fl);
  weight[0] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
  weight[1] = ((A + 2) * s - (A + 3)) * s * s + 1;
  weight[2] = ((A + 2) * (1 - s) - (A + 3)) * (1 - s) * (1 - s) + 1;
  weight[3] = ((A * (2 - s) - 5 * A) * (2 - s) + 8 * A) * (2 - s) - 4 * A;
  float sum = 0.f;
  for (int i = 0; i < 4; ++i) {
    const int64_t j = base - 1 + i;
    if (a.excludeOutside && (j < 0 || j > last)) weight[i] = 0.f;
    sum += weight[i];
    index[i] = j < 0 ? 0 : (j > last ? last : j);
  }
  if (a.excludeOutside && sum != 0.f)
    for (int i = 0; i < 4; ++i) weight[i] /= sum;
  return 4;
}

__device__ int64_t nearestIndex(const ResizeArgs& a, int k, float x) {
  float r;
  switch (a.rounding) {
    case NearestRounding::kRoundPreferFloor: r = (x == floorf(x) + 0.5f) ? floorf(x) : roundf(x); break;
    case NearestRounding::kRoundPreferCeil: r = (x == floorf(x) + 0.5f) ? ceilf(x) : roundf(x); break;
    case NearestRounding::kFloor: r = floorf(x); break;
    default: r = ceilf(x); break;
  }
  const int64_t i = static_cast<int64_t>(r);
  return i < 0 ? 0 : (i >= a.inDims[k] ? a.inDims[k] - 1 : i);
}

template <typename W>
__global__ void resizeNearestKernel(ResizeArgs a) {
  const W* src = static_cast<const W*>(a.src);
  W* dst = static_cast<W*>(a.dst);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t rest = i, offset = 0, stride = 1;
    for (int k = a.rank - 1; k >= 0; --k) {
      const int64_t x = rest % a.outDims[k];
      rest /= a.outDims[k];
      const int64_t j = a.outDims[k] == a.inDims[k] && a.scales[k] == 1.f ? x
                                                                          : nearestIndex(a, k, originalCoordinate(a, k, x));
      offset += j * stride;
      stride *= a.inDims[k];
    }
    dst[i] = src[offset];
  }
}

/// Nearest with tf_crop_and_resize (float data): coordinates outside the input give the extrapolation value.
template <typename T>
__global__ void resizeNearestCropKernel(ResizeArgs a) {
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t rest = i, offset = 0, stride = 1;
    bool outside = false;
    for (int k = a.rank - 1; k >= 0; --k) {
      const int64_t x = rest % a.outDims[k];
      rest /= a.outDims[k];
      const float xf = originalCoordinate(a, k, x);
      outside = outside || outsideCrop(a, k, xf);
      offset += nearestIndex(a, k, xf) * stride;
      stride *= a.inDims[k];
    }
    dst[i] = outside ? convert<T>(a.extrapolation) : src[offset];
  }
}

/// Linear and cubic: a weighted sum over the taps of the interpolated dims (at most 3 dims, 4 taps each).
template <typename T>
__global__ void resizeInterpolateKernel(ResizeArgs a) {
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t coord[kMaxRank];
    int64_t rest = i;
    for (int k = a.rank - 1; k >= 0; --k) {
      coord[k] = rest % a.outDims[k];
      rest /= a.outDims[k];
    }
    int64_t index[3][4];
    float weight[3][4];
    int taps[3];
    bool outside = false;
    for (int m = 0; m < a.interpolatedCount; ++m) {
      const int k = a.interpolated[m];
      const float x = originalCoordinate(a, k, coord[k]);
      outside = outside || outsideCrop(a, k, x);
      taps[m] = resizeTaps(a, k, x, index[m], weight[m]);
    }
    if (outside) {
      dst[i] = convert<T>(a.extrapolation);
      continue;
    }
    int combinations = 1;
    for (int m = 0; m < a.interpolatedCount; ++m) combinations *= taps[m];
    float sum = 0.f;
    for (int corner = 0; corner < combinations; ++corner) {
      float w = 1.f;
      int64_t c[kMaxRank];
      for (int k = 0; k < a.rank; ++k) c[k] = coord[k];
      int rem = corner;
      for (int m = 0; m < a.interpolatedCount; ++m) {
        const int t = rem % taps[m];
        rem /= taps[m];
        c[a.interpolated[m]] = index[m][t];
        w *= weight[m][t];
      }
      if (w == 0.f) continue;
      int64_t offset = 0;
      for (int k = 0; k < a.rank; ++k) offset = offset * a.inDims[k] + c[k];
      sum += w * convert<float>(src[offset]);
    }
    dst[i] = convert<T>(sum);
  }
}

template <typename W>
__global__ void fillKernel(W* dst, int64_t count, W value) {
  KILN_GRID_STRIDE(i, count) dst[i] = value;
}

template <typename T>
__global__ void rangeKernel(T* dst, int64_t count, const T* start, const T* delta) {
  using C = Compute<T>;
  const C s = convert<C>(*start), d = convert<C>(*delta);
  KILN_GRID_STRIDE(i, count) dst[i] = convert<T>(static_cast<C>(s + static_cast<C>(i) * d));
}

__global__ void writeIntsKernel(int64_t* dst, SmallInts values) {
  if (threadIdx.x < values.count) dst[threadIdx.x] = values.values[threadIdx.x];
}

template <template <typename> class K, typename F> cudaError_t byWordSize(size_t bytes, F&& launch) {
  switch (bytes) {
    case 1: launch(typename Word<1>::type{}); break;
    case 2: launch(typename Word<2>::type{}); break;
    case 4: launch(typename Word<4>::type{}); break;
    case 8: launch(typename Word<8>::type{}); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}
template <typename> struct Unused {};

}  // namespace

cudaError_t launchStridedCopy(const StridedCopy& c, size_t elementBytes, cudaStream_t stream) {
  int64_t count = 1;
  for (int k = 0; k < c.rank; ++k) count *= c.dims[k];
  if (count == 0) return cudaSuccess;
  StridedCopy simple = c;
  simplifyStridedCopy(simple);
  BatchedTranspose t;
  if (asBatchedTranspose(simple, t)) {
    t.src = static_cast<const char*>(c.src) + c.srcBase * static_cast<int64_t>(elementBytes);
    t.dst = static_cast<char*>(c.dst) + c.dstBase * static_cast<int64_t>(elementBytes);
    return byWordSize<Unused>(elementBytes, [&](auto w) {
      using W = decltype(w);
      if (t.rows <= 8) launchTiledTranspose<W, 8, 256>(t, stream);
      else if (t.cols <= 8) launchTiledTranspose<W, 256, 8>(t, stream);
      else launchTiledTranspose<W, 32, 32>(t, stream);
    });
  }
  return byWordSize<Unused>(elementBytes, [&](auto w) {
    stridedCopyKernel<decltype(w)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(simple, count);
  });
}

cudaError_t launchGather(const GatherArgs& a, size_t elementBytes, cudaStream_t stream) {
  const int64_t count = a.outer * a.indexCount * a.inner;
  if (count == 0) return cudaSuccess;
  return byWordSize<Unused>(elementBytes, [&](auto w) {
    using W = decltype(w);
    if (a.indices64)
      gatherKernel<W, int64_t><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
    else
      gatherKernel<W, int32_t><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  });
}

// Constant padding at the end of the innermost dim only (the NHWC stem's 3 -> 8 channels): one division per element
// instead of two per dim.
template <typename W>
__global__ void padInnerKernel(PadArgs a, int64_t inLast, int64_t outLast) {
  const W* src = static_cast<const W*>(a.src);
  W* dst = static_cast<W*>(a.dst);
  const W fill = a.constantValue ? *static_cast<const W*>(a.constantValue) : W(0);
  KILN_GRID_STRIDE(i, a.count) {
    const int64_t row = i / outLast, col = i - row * outLast;
    dst[i] = col < inLast ? src[row * inLast + col] : fill;
  }
}

bool padsOnlyInnerEnd(const PadArgs& a) {
  if (a.mode != PadMode::kConstant || a.rank < 1) return false;
  for (int k = 0; k < a.rank; ++k) {
    if (a.padBegin[k] != 0) return false;
    if (k < a.rank - 1 && a.inDims[k] != a.outDims[k]) return false;
  }
  return a.inDims[a.rank - 1] <= a.outDims[a.rank - 1];
}

cudaError_t launchPad(const PadArgs& a, size_t elementBytes, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  if (padsOnlyInnerEnd(a)) {
    const int64_t inLast = a.inDims[a.rank - 1], outLast = a.outDims[a.rank - 1];
    return byWordSize<Unused>(elementBytes, [&](auto w) {
      padInnerKernel<decltype(w)><<<gridFor(a.count, kThreads), kThreads, 0, stream>>>(a, inLast, outLast);
    });
  }
  return byWordSize<Unused>(elementBytes, [&](auto w) {
    padKernel<decltype(w)><<<gridFor(a.count, kThreads), kThreads, 0, stream>>>(a);
  });
}

cudaError_t launchResize(const ResizeArgs& a, DataType dtype, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  const unsigned grid = gridFor(a.count, kThreads);
  const bool crop = a.coordinates == ResizeCoordinates::kTfCropAndResize;
  if (a.mode == ResizeMode::kNearest && !crop) {
    return byWordSize<Unused>(dataTypeSize(dtype), [&](auto w) {
      resizeNearestKernel<decltype(w)><<<grid, kThreads, 0, stream>>>(a);
    });
  }
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto t) {
    if (a.mode == ResizeMode::kNearest) resizeNearestCropKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a);
    else resizeInterpolateKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a);
  });
  return known ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchFill(void* dst, int64_t count, uint64_t bits, size_t elementBytes, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  return byWordSize<Unused>(elementBytes, [&](auto w) {
    using W = decltype(w);
    fillKernel<W><<<gridFor(count, kThreads), kThreads, 0, stream>>>(static_cast<W*>(dst), count,
                                                                       static_cast<W>(bits));
  });
}

cudaError_t launchRange(void* dst, int64_t count, const void* start, const void* delta, DataType dtype,
                        cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const unsigned grid = gridFor(count, kThreads);
  switch (dtype) {
    case DataType::kFloat32:
      rangeKernel<<<grid, kThreads, 0, stream>>>(static_cast<float*>(dst), count, static_cast<const float*>(start),
                                                 static_cast<const float*>(delta));
      break;
    case DataType::kFloat16:
      rangeKernel<<<grid, kThreads, 0, stream>>>(static_cast<__half*>(dst), count, static_cast<const __half*>(start),
                                                 static_cast<const __half*>(delta));
      break;
    case DataType::kInt64:
      rangeKernel<<<grid, kThreads, 0, stream>>>(static_cast<int64_t*>(dst), count,
                                                 static_cast<const int64_t*>(start), static_cast<const int64_t*>(delta));
      break;
    case DataType::kInt32:
      rangeKernel<<<grid, kThreads, 0, stream>>>(static_cast<int32_t*>(dst), count,
                                                 static_cast<const int32_t*>(start), static_cast<const int32_t*>(delta));
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchWriteInts(int64_t* dst, const SmallInts& values, cudaStream_t stream) {
  if (values.count == 0) return cudaSuccess;
  writeIntsKernel<<<1, kMaxRank * 2, 0, stream>>>(dst, values);
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

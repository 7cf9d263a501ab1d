// Launch arguments for the index-driven data-movement kernels (indexing.cu): GatherElements, GatherND, ScatterND,
// ScatterElements, Trilu, OneHot, ReverseSequence, Compress, EyeLike. Index tensors are read on the device; an
// index outside its dim cannot be reported from a kernel, so gathers write zeros there and scatters skip it (the
// CPU backend reports both as errors).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

enum class ScatterReduction : int32_t { kNone = 0, kAdd = 1, kMul = 2, kMax = 3, kMin = 4 };

/// GatherElements / ScatterElements: one index per element of `indexDims`; along `axis` the index replaces the
/// coordinate. Gather: out[i] = data[...]; scatter: out[...] (op)= updates[i].
struct ElementsArgs {
  int32_t rank = 0, axis = 0;
  int64_t indexDims[kMaxRank] = {};
  int64_t dataStrides[kMaxRank] = {};
  int64_t axisDim = 0;
  int64_t count = 0;  // elements of indexDims
  const void* data = nullptr;     // gather source
  const void* indices = nullptr;  // int64 or int32
  const void* updates = nullptr;  // scatter source
  void* out = nullptr;
  bool indices64 = true;
  ScatterReduction reduction = ScatterReduction::kNone;
};
cudaError_t launchGatherElements(const ElementsArgs& args, size_t elementBytes, cudaStream_t stream);
/// `dtype` picks the arithmetic for reductions (float32/float64/int64/int32); kNone moves words of any size.
cudaError_t launchScatterElements(const ElementsArgs& args, DataType dtype, cudaStream_t stream);

/// GatherND / ScatterND: tuples of `k` indices address slices of `slice` elements; `batchDims` leading dims are
/// shared (GatherND only).
struct NdArgs {
  int32_t k = 0;
  int64_t indexedDims[kMaxRank] = {};    // data dims batchDims .. batchDims+k-1
  int64_t indexedStrides[kMaxRank] = {};  // their strides in the data
  int64_t tuples = 0, slice = 1, perBatch = 1, batchStride = 0;
  const void* data = nullptr;
  const void* indices = nullptr;
  const void* updates = nullptr;
  void* out = nullptr;
  bool indices64 = true;
  ScatterReduction reduction = ScatterReduction::kNone;
};
cudaError_t launchGatherND(const NdArgs& args, size_t elementBytes, cudaStream_t stream);
cudaError_t launchScatterND(const NdArgs& args, DataType dtype, cudaStream_t stream);

/// Trilu over matrices of rows x cols: keeps j - i >= k (upper) or j - i <= k (lower); k read from the device
/// (`k` points to one int64, or null for 0).
struct TriluArgs {
  int64_t count = 0, rows = 0, cols = 0;
  const int64_t* k = nullptr;
  bool upper = true;
  const void* src = nullptr;
  void* dst = nullptr;
};
cudaError_t launchTrilu(const TriluArgs& args, size_t elementBytes, cudaStream_t stream);

/// OneHot: out[o, d, i] = values[indices[o, i] == d] (negative indices count from depth's end).
struct OneHotArgs {
  int64_t outer = 1, depth = 0, inner = 1;
  const void* indices = nullptr;
  const void* values = nullptr;  // two elements of the output type: off, on
  void* out = nullptr;
};
cudaError_t launchOneHot(const OneHotArgs& args, DataType indexType, size_t elementBytes, cudaStream_t stream);

/// ReverseSequence: reverses the first lens[b] steps of each batch entry; a length outside [0, steps] gives zeros.
struct ReverseSequenceArgs {
  int64_t steps = 0, batch = 0, inner = 1;
  bool timeMajor = true;  // time_axis == 0
  const int64_t* lens = nullptr;
  const void* src = nullptr;
  void* dst = nullptr;
};
cudaError_t launchReverseSequence(const ReverseSequenceArgs& args, size_t elementBytes, cudaStream_t stream);

/// Compress: output slot j along the axis takes the j-th input slot whose condition is true.
struct CompressArgs {
  int64_t outer = 1, inLen = 0, outLen = 0, inner = 1, conditionLength = 0;
  const bool* condition = nullptr;
  const void* src = nullptr;
  void* dst = nullptr;
};
cudaError_t launchCompress(const CompressArgs& args, size_t elementBytes, cudaStream_t stream);

/// EyeLike: ones on the diagonal shifted by k, zeros elsewhere, in `dtype`.
cudaError_t launchEyeLike(void* dst, int64_t rows, int64_t cols, int64_t k, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

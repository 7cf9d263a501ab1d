// CUDA kernels of the data-dependent ops (ops/data_dependent.h): NonZero, Unique, NonMaxSuppression, TopK with a
// K read on the device, Compress with a condition read on the device. Each writes its outputs densely at the
// actual count and the count into the optional int64 count output. Simple kernels, correctness first: single-block
// scans, rank counting, one block per (batch, class) for NMS.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// NonMaxSuppression and friends go here, and TopK / Compress whose K / condition is not a graph constant.
bool isDataDependentOnCuda(const ir::Graph& graph, const ir::Node& node);
Status dataDependentSupports(const ir::Graph& graph, const ir::Node& node);
KernelResult makeDataDependentKernel(const ir::Graph& graph, const ir::Node& node);

// ---- launch structs (data_dependent.cu)

/// How a kernel reads one element's value: floats drop the sign bit for "is zero", compare as numbers.
enum class ElementKind : int32_t { kFloat32, kFloat64, kFloat16, kBFloat16, kSigned, kUnsigned };

struct NonZeroArgs {
  const void* x = nullptr;
  int64_t count = 0;  // elements
  int32_t elementBytes = 4;
  ElementKind kind = ElementKind::kFloat32;
  int32_t rank = 1;
  int64_t dims[kMaxRank] = {};
  int64_t* out = nullptr;     // [rank, n] at the actual n
  int64_t* countOut = nullptr;  // may be null
};
cudaError_t launchNonZero(const NonZeroArgs& a, cudaStream_t stream);

/// Compress over [outer, len, inner] slices; `positions` is workspace of condLen + 1 int64.
struct CompressDeviceArgs {
  const void* x = nullptr;
  void* y = nullptr;
  const uint8_t* condition = nullptr;
  int64_t condLen = 0, outer = 1, len = 1, inner = 1;
  int32_t elementBytes = 4;
  int64_t* positions = nullptr;
  int64_t* countOut = nullptr;
};
cudaError_t launchCompressDevice(const CompressDeviceArgs& a, cudaStream_t stream);

/// TopK along [outer, len, inner] with k read from `k` on the device.
struct TopKDeviceArgs {
  const void* x = nullptr;
  void* values = nullptr;
  int64_t* indices = nullptr;
  const int64_t* k = nullptr;
  int64_t outer = 1, len = 1, inner = 1;
  bool largest = true;
  ElementKind kind = ElementKind::kFloat32;
  int32_t elementBytes = 4;
  int64_t* countOut = nullptr;
};
cudaError_t launchTopKDevice(const TopKDeviceArgs& a, cudaStream_t stream);

/// Unique over `len` slices of [outer, len, inner]; workspace of 3 * len + 1 int64.
struct UniqueArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t* indices = nullptr;  // each may be null
  int64_t* inverse = nullptr;
  int64_t* counts = nullptr;
  int64_t outer = 1, len = 1, inner = 1;
  bool sorted = true;
  ElementKind kind = ElementKind::kFloat32;
  int32_t elementBytes = 4;
  int64_t* workspace = nullptr;
  int64_t* countOut = nullptr;
};
cudaError_t launchUnique(const UniqueArgs& a, cudaStream_t stream);

/// NonMaxSuppression; workspace of batches * classes * (boxes + 2) int64.
struct NmsArgs {
  const float* boxes = nullptr;   // [batches, boxes, 4]
  const float* scores = nullptr;  // [batches, classes, boxes]
  const int64_t* maxOutput = nullptr;  // each may be null (absent)
  const float* iouThreshold = nullptr;
  const float* scoreThreshold = nullptr;
  int64_t batches = 0, classes = 0, boxCount = 0;
  bool centerPointBox = false;
  int64_t* selected = nullptr;  // [n, 3]
  int64_t* workspace = nullptr;
  int64_t* countOut = nullptr;
};
cudaError_t launchNms(const NmsArgs& a, cudaStream_t stream);

}  // namespace kiln::backends::cuda

// Launch arguments for Softmax/LogSoftmax and the normalizations (softmax_layernorm.cu). Statistics and sums are
// always float32, whatever the data type (DESIGN.md rule 6).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/types.h"

namespace kiln::backends::cuda {

/// Rows of `axisLength` elements, `inner` apart: element j of row r=(o, i) is at (o * axisLength + j) * inner + i.
struct SoftmaxArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t outer = 1, axisLength = 1, inner = 1;
  bool logSoftmax = false;
};
cudaError_t launchSoftmax(const SoftmaxArgs& args, DataType dtype, cudaStream_t stream);

/// Normalizes each contiguous row to zero mean and unit variance, then scales and shifts.
enum class AffineIndex : int32_t {
  kPerElement = 0,  // LayerNormalization: scale[j % scaleCount], bias[j % biasCount]
  kPerChannel = 1,  // Instance/GroupNormalization: scale[channel]
  kPerGroup = 2,    // GroupNormalization opset 18: scale[group]
};
struct RowNormArgs {
  const void* x = nullptr;
  const void* scale = nullptr;
  const void* bias = nullptr;  // may be null
  void* y = nullptr;
  int64_t rows = 0, rowLength = 0;
  float epsilon = 1e-5f;
  AffineIndex affine = AffineIndex::kPerElement;
  int64_t scaleCount = 0;
  int64_t biasCount = 0;  // kPerElement: scale and bias broadcast over the row by index modulo their counts
  int64_t groups = 1, channelsPerGroup = 1, spatial = 1;
};
cudaError_t launchRowNorm(const RowNormArgs& args, DataType dtype, cudaStream_t stream);

/// Inference BatchNormalization: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c], c = dim 1.
struct BatchNormArgs {
  const void *x = nullptr, *scale = nullptr, *bias = nullptr, *mean = nullptr, *var = nullptr;
  void* y = nullptr;
  int64_t count = 0, channels = 1, inner = 1;
  float epsilon = 1e-5f;
};
cudaError_t launchBatchNorm(const BatchNormArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

// Launch arguments of the QuantizeLinear / DequantizeLinear kernels (quantization.cu). Semantics are
// ops/quantization.h's: the same layout of scales, rint (round half to even), saturation, float32 arithmetic.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/types.h"

namespace kiln::backends::cuda {

struct QuantizationArgs {
  const void* x = nullptr;
  const void* scale = nullptr;
  const void* zeroPoint = nullptr;  // null: zero
  void* y = nullptr;
  DataType xType = DataType::kUndefined, scaleType = DataType::kUndefined, zeroPointType = DataType::kUndefined,
           yType = DataType::kUndefined;
  DataType divisionType = DataType::kFloat32;  // QuantizeLinear: the type x / scale is rounded to
  float lo = 0.f, hi = 0.f;                    // QuantizeLinear: saturation range of yType
  int64_t count = 0;
  // ops::QuantizationLayout
  int64_t inner = 1, axisLen = 1, block = 1, outerStride = 0, axisStride = 0, innerStride = 0;
};

cudaError_t launchQuantize(const QuantizationArgs& args, cudaStream_t stream);
cudaError_t launchDequantize(const QuantizationArgs& args, cudaStream_t stream);

}  // namespace kiln::backends::cuda

// Launch arguments for the direct ConvTranspose kernel (conv_transpose.cu). 1-D and 2-D windows are 3-D ones with
// leading size-1 dims. W is [C_in, C_out / group, k...], as ONNX lays it out.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

struct ConvTransposeArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;  // may be null
  void* y = nullptr;
  int64_t batch = 0, inChannels = 0, outChannels = 0, groups = 1;
  int64_t inSpatial[3] = {1, 1, 1}, outSpatial[3] = {1, 1, 1}, kernel[3] = {1, 1, 1};
  int64_t strides[3] = {1, 1, 1}, dilations[3] = {1, 1, 1}, pads[3] = {0, 0, 0};  // pads: at the start
  int64_t inSize = 1, kernelSize = 1;  // products of inSpatial and kernel
};
cudaError_t launchConvTranspose(const ConvTransposeArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

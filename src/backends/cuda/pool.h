// Launch arguments for MaxPool/AveragePool (pool.cu) over 1 to 3 spatial dims of NC... tensors.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/types.h"

namespace kiln::backends::cuda {

struct PoolArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t planes = 0;  // N * C
  int32_t spatialRank = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1};
  int64_t padBegin[3] = {}, padEnd[3] = {}, dilation[3] = {1, 1, 1};
  bool isMax = true;
  bool countIncludePad = false;
};
cudaError_t launchPool(const PoolArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

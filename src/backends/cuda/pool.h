// Launch arguments for MaxPool/AveragePool (pool.cu) over 1 to 3 spatial dims of NC... tensors, or 2 spatial dims of
// NHWC tensors; and GlobalAveragePool/GlobalMaxPool over NHWC tensors (the NCHW global pools use the reduction).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/types.h"

namespace kiln::backends::cuda {

struct PoolArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t planes = 0;  // N * C (NCHW); N (NHWC)
  int64_t channels = 0;  // C, NHWC only
  bool channelsLast = false;  // NHWC: spatialRank must be 2
  int32_t spatialRank = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1};
  int64_t padBegin[3] = {}, padEnd[3] = {}, dilation[3] = {1, 1, 1};
  bool isMax = true;
  bool countIncludePad = false;
};
cudaError_t launchPool(const PoolArgs& args, DataType dtype, cudaStream_t stream);

/// Y[n, 0, 0, c] = mean or max over (h, w) of X[n, h, w, c]; float32 accumulation.
struct GlobalPoolNhwcArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t batch = 0, spatial = 0, channels = 0;  // N, H * W, C
  bool isMax = false;
};
cudaError_t launchGlobalPoolNhwc(const GlobalPoolNhwcArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

// SpaceToDepth with kiln's extension attributes on CUDA (ops/space_to_depth_packed.h): the packing node of the
// space-to-depth stem. Reads X in NCHW once and writes the padded, blocked, channel-padded result in one pass;
// channels-last output with a channel count divisible by 8 is written 8 elements (16 bytes for float16) per thread.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

struct PackedSpaceToDepthArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t batch = 0, channels = 0, height = 0, width = 0;  // X [N, C, H, W]
  int64_t block = 1, padTop = 0, padLeft = 0;
  int64_t outHeight = 0, outWidth = 0, outChannels = 0;
  bool channelsLast = true;
};
/// elementBytes 1, 2, 4 or 8 (data is copied by size).
cudaError_t launchPackedSpaceToDepth(const PackedSpaceToDepthArgs& args, size_t elementBytes, cudaStream_t stream);

/// Whether the CUDA backend runs this extended SpaceToDepth; data_movement.cpp hands such nodes over.
Status packedSpaceToDepthSupports(const ir::Graph& graph, const ir::Node& node);
KernelResult makePackedSpaceToDepthKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);

}  // namespace kiln::backends::cuda

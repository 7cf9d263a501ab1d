// Launch arguments for the data-movement kernels (data_movement.cu) beyond the strided copy in cuda_common.h.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// out[o, j, i] = data[o, indices[j], i]; an index outside [-axisDim, axisDim) yields zeros (the CPU backend
/// reports it; a kernel cannot).
struct GatherArgs {
  const void* data = nullptr;
  const void* indices = nullptr;
  void* out = nullptr;
  int64_t outer = 1, axisDim = 1, indexCount = 1, inner = 1;
  bool indices64 = true;
};
cudaError_t launchGather(const GatherArgs& args, size_t elementBytes, cudaStream_t stream);

enum class PadMode : int32_t { kConstant = 0, kReflect = 1, kEdge = 2, kWrap = 3 };
struct PadArgs {
  int32_t rank = 0;
  int64_t outDims[kMaxRank] = {};
  int64_t inDims[kMaxRank] = {};
  int64_t inStrides[kMaxRank] = {};
  int64_t padBegin[kMaxRank] = {};
  PadMode mode = PadMode::kConstant;
  int64_t count = 0;
  const void* src = nullptr;
  void* dst = nullptr;
  const void* constantValue = nullptr;  // device scalar of the data's type, or null for zero
};
cudaError_t launchPad(const PadArgs& args, size_t elementBytes, cudaStream_t stream);

enum class ResizeCoordinates : int32_t {
  kHalfPixel = 0, kPytorchHalfPixel = 1, kAlignCorners = 2, kAsymmetric = 3, kTfHalfPixelForNearest = 4,
  kHalfPixelSymmetric = 5, kTfCropAndResize = 6
};
enum class NearestRounding : int32_t { kRoundPreferFloor = 0, kRoundPreferCeil = 1, kFloor = 2, kCeil = 3 };
enum class ResizeMode : int32_t { kNearest = 0, kLinear = 1, kCubic = 2 };
struct ResizeArgs {
  int32_t rank = 0;
  int64_t outDims[kMaxRank] = {};
  int64_t inDims[kMaxRank] = {};
  float scales[kMaxRank] = {};
  float roiStart[kMaxRank] = {};  // tf_crop_and_resize only
  float roiEnd[kMaxRank] = {};
  int32_t interpolatedCount = 0;  // linear/cubic: dims that need interpolation (at most 3), listed in interpolated[]
  int32_t interpolated[3] = {};
  ResizeCoordinates coordinates = ResizeCoordinates::kHalfPixel;
  NearestRounding rounding = NearestRounding::kRoundPreferFloor;
  ResizeMode mode = ResizeMode::kNearest;
  float cubicA = -0.75f;
  bool excludeOutside = false;
  float extrapolation = 0.f;  // tf_crop_and_resize: the value outside the crop region
  int64_t count = 0;
  const void* src = nullptr;
  void* dst = nullptr;
};
/// Nearest: any element size (tf_crop_and_resize: float32/float16/bfloat16); linear and cubic: float32/float16/
/// bfloat16, weights and sums in float32.
cudaError_t launchResize(const ResizeArgs& args, DataType dtype, cudaStream_t stream);

/// Generators (generators.cpp): fill with a value of up to 8 bytes; arithmetic sequence; small int64 vectors.
cudaError_t launchFill(void* dst, int64_t count, uint64_t valueBits, size_t elementBytes, cudaStream_t stream);
/// out[i] = start[0] + i * delta[0] with start/delta device scalars of `dtype` (float32, float16, int64, int32).
cudaError_t launchRange(void* dst, int64_t count, const void* start, const void* delta, DataType dtype,
                        cudaStream_t stream);
struct SmallInts {
  int32_t count = 0;
  int64_t values[kMaxRank * 2] = {};
};
cudaError_t launchWriteInts(int64_t* dst, const SmallInts& values, cudaStream_t stream);

}  // namespace kiln::backends::cuda

// Launch arguments for the misc family's kernels (misc.cu). Statistics accumulate in float64 (as the CPU
// reference does), data is float32, float16 or float64.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// Ops that reduce a group of elements (the reduced dims at one kept coordinate) and then rewrite the group.
enum class GroupOp : int32_t { kHardmax = 0, kLpNormL1 = 1, kLpNormL2 = 2, kMeanVariance = 3, kRms = 4 };
struct GroupArgs {
  GroupOp op = GroupOp::kHardmax;
  const void* x = nullptr;
  void* y = nullptr;
  const void* scale = nullptr;  // RMSNormalization: indexed by the reduced coordinates through scaleStrides
  int64_t groups = 0;
  int32_t keptRank = 0;
  int64_t keptDims[kMaxRank] = {};
  int64_t keptStrides[kMaxRank] = {};
  int32_t reducedRank = 0;
  int64_t reducedDims[kMaxRank] = {};
  int64_t reducedStrides[kMaxRank] = {};
  int64_t scaleStrides[kMaxRank] = {};  // 0 along broadcast dims of scale
  int64_t reduceCount = 0;
  float epsilon = 0.f;
};
cudaError_t launchGroup(const GroupArgs& args, DataType dtype, cudaStream_t stream);

/// LRN over dim 1 of (N, C, spatial): y = x / (bias + alpha / size * sum of squares in the window)^beta.
struct LrnArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t count = 0, channels = 0, spatial = 1, below = 0, above = 0;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.f, size = 1.f;
};
cudaError_t launchLrn(const LrnArgs& args, DataType dtype, cudaStream_t stream);

/// TopK along one axis, [outer, len, inner]: each element's rank among its line (ties: lower index first, NaN the
/// largest) decides whether and where it lands. `k` outputs per line.
struct TopKArgs {
  const void* x = nullptr;
  void* values = nullptr;
  int64_t* indices = nullptr;
  int64_t outer = 1, len = 0, inner = 1, k = 0;
  bool largest = true;
};
cudaError_t launchTopK(const TopKArgs& args, DataType dtype, cudaStream_t stream);

/// Det of `batch` n x n matrices: LU with partial pivoting in float64, one thread per matrix; `scratch` holds
/// batch * n * n doubles.
cudaError_t launchDet(const void* x, void* y, double* scratch, int64_t batch, int64_t n, DataType dtype,
                      cudaStream_t stream);

/// Einsum as a direct sum: each output element sums, over every value of the contracted labels, the product of
/// the operands. Labels are numbered output labels first (outputRank of them), then the contracted ones.
inline constexpr int kMaxEinsumLabels = 16;
inline constexpr int kMaxEinsumOperands = 4;
struct EinsumArgs {
  int32_t operands = 0, outputRank = 0, labels = 0;
  int64_t labelSize[kMaxEinsumLabels] = {};
  int64_t strides[kMaxEinsumOperands][kMaxEinsumLabels] = {};  // per operand, per label (summed for diagonals)
  const void* inputs[kMaxEinsumOperands] = {};
  void* y = nullptr;
  int64_t count = 0;  // output elements
};
cudaError_t launchEinsum(const EinsumArgs& args, DataType dtype, cudaStream_t stream);

/// NegativeLogLikelihoodLoss on log-probabilities (N, C, spatial): loss = -logp[n, t, s] * weight[t]; targets equal
/// to ignoreIndex (or outside [0, C), which the CPU backend reports) contribute 0 and no weight.
enum class LossReduction : int32_t { kNone = 0, kSum = 1, kMean = 2 };
struct NllArgs {
  const void* logp = nullptr;
  const void* target = nullptr;
  bool target64 = true;
  const void* weight = nullptr;  // may be null
  void* y = nullptr;
  int64_t n = 0, classes = 0, spatial = 1;
  bool hasIgnore = false;
  int64_t ignoreIndex = 0;
  LossReduction reduction = LossReduction::kMean;
};
cudaError_t launchNll(const NllArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

// Launch arguments for the elementwise kernels (elementwise.cu): one generic broadcast kernel per type signature,
// the op chosen at run time by a switch that is uniform across the grid (no divergence, few instantiations).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"
#include "ir/op_kind.h"

namespace kiln::backends::cuda {

struct ElementwiseArgs {
  ir::OpKind op = ir::OpKind::kIdentity;
  int32_t rank = 1;
  int32_t inputCount = 1;
  bool sameShape = false;  // every input has the output's dims: index i is every offset
  int64_t count = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[3][kMaxRank] = {};  // per input, 0 along broadcast dims
  const void* inputs[3] = {};
  void* output = nullptr;
  // Attributes: alpha/beta/gamma as the op defines them (LeakyRelu alpha, HardSigmoid alpha/beta, Selu, Celu...).
  float alpha = 0.f, beta = 0.f, gamma = 0.f;
  int32_t flag = 0;  // Gelu: 1 = tanh approximation; Mod: fmod; IsInf: bit0 detect_negative, bit1 detect_positive;
                    // BitShift: 1 = LEFT
  const void* clipMin = nullptr;  // Clip bounds: device scalars of the input type, or null
  const void* clipMax = nullptr;
};

/// Unary and binary ops on `inType` (floats including bfloat16, 8-64 bit integers, bool as the op allows) producing
/// `outType` (same, or bool for comparisons / IsNaN / IsInf). Where: inType is the type of inputs 1 and 2.
/// Returns cudaErrorInvalidValue for a combination no kernel exists for (supports() refuses those first).
cudaError_t launchElementwise(const ElementwiseArgs& args, DataType inType, DataType outType, cudaStream_t stream);

/// Pow whose exponent has another type than the base: bases float32/float16/bfloat16/float64/int64/int32, exponents
/// any float or 8-64 bit (un)signed integer type. Matches the CPU kernel: double pow, integers truncated, results
/// outside int64 give 0.
cudaError_t launchPow(const ElementwiseArgs& args, DataType baseType, DataType exponentType, cudaStream_t stream);

/// Cast between float32, float16, bfloat16, float64, every 8-64 bit integer type and bool.
cudaError_t launchCast(const void* in, DataType inType, void* out, DataType outType, int64_t count,
                       cudaStream_t stream);
bool castSupported(DataType type);

}  // namespace kiln::backends::cuda

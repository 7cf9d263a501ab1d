// FusedElementwise kernel: each thread loads its output element's inputs into float32 registers, runs the program
// (the same formulas as the CPU kernel, ops/fused_elementwise_math.h) and stores the last register. The opcode
// switch is uniform across the grid, so warps do not diverge on it.
#include <algorithm>

#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/elementwise_fused.h"
#include "ops/fused_elementwise_math.h"

namespace kiln::backends::cuda {
namespace {

using ops::FusedOpcode;
constexpr int kThreads = 256;
constexpr int kMaxRegisters = ops::kMaxFusedInputs + ops::kMaxFusedInstructions;

template <typename T>
__global__ void fusedElementwiseKernel(const __grid_constant__ FusedElementwiseArgs a) {
  const int n = a.inputCount;
  KILN_GRID_STRIDE(i, a.count) {
    float reg[kMaxRegisters];
    if (a.sameShape) {
#pragma unroll
      for (int k = 0; k < ops::kMaxFusedInputs; ++k)
        if (k < n) reg[k] = load(static_cast<const T*>(a.inputs[k]), i);
    } else {
      int64_t offset[ops::kMaxFusedInputs];
#pragma unroll
      for (int k = 0; k < ops::kMaxFusedInputs; ++k) offset[k] = 0;
      int64_t rest = i;
      for (int d = a.rank - 1; d >= 0; --d) {
        const int64_t idx = rest % a.dims[d];
        rest /= a.dims[d];
#pragma unroll
        for (int k = 0; k < ops::kMaxFusedInputs; ++k) offset[k] += idx * a.strides[k][d];
      }
#pragma unroll
      for (int k = 0; k < ops::kMaxFusedInputs; ++k)
        if (k < n) reg[k] = load(static_cast<const T*>(a.inputs[k]), offset[k]);
    }
    for (int j = 0; j < a.instructionCount; ++j) {
      const auto op = static_cast<FusedOpcode>(a.code[j][0]);
      const int va = a.code[j][1], vb = a.code[j][2];
      const float x = va >= 0 ? reg[va] : a.immediates[-1 - va];
      float y;
      if (ops::fused::isBinary(op)) {
        y = ops::fused::binary(op, x, vb >= 0 ? reg[vb] : a.immediates[-1 - vb]);
      } else {
        y = ops::fused::unary(op, x, vb < 0 ? &a.immediates[-1 - vb] : a.immediates);
      }
      reg[n + j] = y;
    }
    store(static_cast<T*>(a.output), i, reg[n + a.instructionCount - 1]);
  }
}

}  // namespace

cudaError_t launchFusedElementwise(const FusedElementwiseArgs& args, DataType dtype, cudaStream_t stream) {
  if (args.count == 0) return cudaSuccess;
  const unsigned int blocks = static_cast<unsigned int>(
      std::min<int64_t>((args.count + kThreads - 1) / kThreads, int64_t{65536}));
  const bool known = dispatchFloatOrBFloat16(dtype, [&](auto tag) {
    using T = decltype(tag);
    fusedElementwiseKernel<T><<<blocks, kThreads, 0, stream>>>(args);
  });
  if (!known) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

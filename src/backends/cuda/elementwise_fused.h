// FusedElementwise on CUDA: the launch block the host side (elementwise_fused.cpp) fills once per shape and the
// kernel (elementwise_fused.cu) interprets, one output element per thread in a grid-stride loop.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/types.h"
#include "ops/fused_opcode.h"

namespace kiln::backends::cuda {

inline constexpr int kFusedMaxRank = 8;

struct FusedElementwiseArgs {
  int32_t inputCount = 0;
  int32_t instructionCount = 0;
  int32_t rank = 1;
  bool sameShape = false;  // every input has the output's dims: input offset = output index
  int64_t count = 0;
  int64_t dims[kFusedMaxRank] = {};                          // output dims, merged where every input allows
  int64_t strides[ops::kMaxFusedInputs][kFusedMaxRank] = {};  // per input, 0 along broadcast dims
  const void* inputs[ops::kMaxFusedInputs] = {};
  void* output = nullptr;
  // Instruction k: opcode, operand a, operand b (ops/fused_elementwise_program.h); operands fit in int8.
  int8_t code[ops::kMaxFusedInstructions][3] = {};
  float immediates[ops::kMaxFusedImmediates] = {};
};

/// Runs the program for `dtype` float32, float16 or bfloat16 (16-bit loads and stores, float32 math).
cudaError_t launchFusedElementwise(const FusedElementwiseArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

// Host-side entry points, used by cuda_backend.cpp (declared apart from the launch block, which the .cu includes).
#include "backends/backend.h"

namespace kiln::backends::cuda {

struct CudaContext;
Status fusedElementwiseSupports(const ir::Graph& graph, const ir::Node& node);
Expected<std::unique_ptr<Kernel>> makeFusedElementwiseKernel(const CudaContext& ctx, const ir::Graph& graph,
                                                             const ir::Node& node);

}  // namespace kiln::backends::cuda

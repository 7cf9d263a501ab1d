// An activation applied in place to a float16 or float32 tensor: the second half of a conv epilogue that cuDNN has no fused
// engine for at some shape (conv_cudnn_graph.cpp runs conv + bias + residual there, then this).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/fused_opcode.h"

namespace kiln::backends::cuda {

/// y = f(x), or x * f(x) with `timesInput` (SiLU as Sigmoid times input); f is a unary FusedElementwise opcode with
/// up to two parameters (ops/fused_elementwise_math.h), evaluated in float32.
struct InPlaceActivation {
  ops::FusedOpcode op = ops::FusedOpcode::kRelu;
  float params[2] = {0.f, 0.f};
  bool timesInput = false;
};

/// `data` holds `count` float16 values, or float32 ones when `isFloat32`.
cudaError_t launchActivationInPlace(void* data, bool isFloat32, int64_t count, const InPlaceActivation& activation,
                                    cudaStream_t stream);

}  // namespace kiln::backends::cuda

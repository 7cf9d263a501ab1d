// Conv epilogues as kiln's own kernels, on float32, float16 or bfloat16 tensors (float32 math):
//  - an activation applied in place: the second half of a conv epilogue that cuDNN has no fused engine for at some
//    shape (conv_cudnn_graph.cpp runs conv + bias + residual there, then this);
//  - y = act(y + bias[channel] + z) in place, NCHW or NHWC: the epilogue of the legacy cuDNN conv where cuDNN's own
//    bias/activation calls do not take the type (bfloat16).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/types.h"
#include "ops/fused_opcode.h"

namespace kiln::backends::cuda {

/// y = f(x), or x * f(x) with `timesInput` (SiLU as Sigmoid times input); f is a unary FusedElementwise opcode with
/// up to two parameters (ops/fused_elementwise_math.h), evaluated in float32. `present` false: no activation.
struct InPlaceActivation {
  ops::FusedOpcode op = ops::FusedOpcode::kRelu;
  float params[2] = {0.f, 0.f};
  bool timesInput = false;
  bool present = true;
};

/// True for the types these kernels take: float32, float16, bfloat16.
bool epilogueKernelTakes(DataType dtype);

/// `data` holds `count` values of `dtype`; cudaErrorInvalidValue for another type.
cudaError_t launchActivationInPlace(void* data, DataType dtype, int64_t count, const InPlaceActivation& activation,
                                    cudaStream_t stream);

/// y = act(y + bias[c] + z) over `count` elements of `dtype`, where c is the channel of the element: the innermost
/// index (mod channels) for NHWC, (i / inner) mod channels for NCHW with `inner` elements per channel plane.
/// bias and z may be null.
struct ConvEpilogueArgs {
  void* y = nullptr;
  const void* bias = nullptr;
  const void* z = nullptr;
  int64_t count = 0, channels = 1, inner = 1;
  bool channelsLast = false;
  InPlaceActivation activation;
};
cudaError_t launchConvEpilogue(const ConvEpilogueArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

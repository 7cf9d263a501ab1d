// A 1x1, stride-1, unpadded NHWC convolution is a GEMM; this kernel runs it through cuBLASLt with the bias, residual
// and Relu fused into the epilogue, instead of cuDNN's legacy API. conv_cudnn.cpp makes it for the tactic
// "cublaslt:1x1", which chooseConvTactic picks when it times faster than the cuDNN candidates.
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// The tactic recorded in the engine when this kernel wins.
inline constexpr const char* kConv1x1Tactic = "cublaslt:1x1";

/// Ok when `node` is a Conv this kernel runs: data_format NHWC, 1x1 kernel, strides and dilations 1, no padding,
/// group 1, float16, bfloat16 or float32, a bias input, activation none or Relu (a residual input only with Relu).
/// Otherwise says why, naming the node.
Status conv1x1GemmQualifies(const ir::Graph& graph, const ir::Node& node);

/// The kernel for a qualifying node. `fallback` (a cuDNN conv kernel for the same node) runs the shapes where
/// cuBLASLt offers no algorithm; it may be null only for tuning.
KernelResult makeConv1x1Kernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                               std::unique_ptr<Kernel> fallback);

}  // namespace kiln::backends::cuda

// Conv through cuDNN's legacy API (conv_cudnn.cpp): every NCHW/NHWC float conv, with bias, and Relu plus an
// optional residual fused through cudnnConvolutionBiasActivationForward. conv_select.cpp decides when it runs.
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// The legacy kernel with tactic "cudnn:algo=A:mathtype=M" (or "" / anything else: cuDNN's heuristics per shape).
std::unique_ptr<Kernel> makeLegacyConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                             const std::string& tactic);

/// Times every algorithm cuDNN's legacy API offers at these shapes through the call run() makes; the fastest as a
/// tactic, or "" when none could be timed.
Expected<std::string> tuneLegacyConv(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                     std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs);

}  // namespace kiln::backends::cuda

// Conv through cuDNN's graph (backend) API: the convolution and its epilogue (bias, residual add, activation) are
// one operation graph that cuDNN runs as one kernel, and every engine configuration cuDNN's heuristics offer is a
// tactic the builder can time. Used for 2-D NHWC convolutions, the form FP16, BF16 and TF32 CUDA engines run (float32
// engines take tensor-core engines only when TF32 is allowed, and never ones that down-convert inputs to FP16); the
// legacy path (conv_cudnn.cpp) covers the rest and is the fallback at shapes where no graph engine applies. An
// activation cuDNN has no engine for at some shape runs as kiln's own in-place kernel after the conv + bias graph.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// Tactics of this kernel start with this; the rest names a cuDNN engine and its knob choices.
inline constexpr const char* kCudnnGraphTacticPrefix = "cudnn-graph:";

/// Ok when `node` is a Conv this kernel runs: data_format NHWC, rank 4, group 1, float16, bfloat16 or float32, and an
/// activation it can express (conv_epilogue_activation.h). Otherwise says why, naming the node.
Status convGraphQualifies(const ir::Graph& graph, const ir::Node& node);

/// True when the node's fused activation needs this kernel (the legacy API fuses only Relu; "Identity", a residual
/// add with no activation, also needs it).
bool convActivationNeedsGraph(const ir::Node& node);

/// The kernel for a qualifying node with a tactic from convGraphCandidates (or "" for cuDNN's first heuristic
/// choice at each shape). `fallback` runs shapes where no graph engine applies; it may be null.
KernelResult makeConvGraphKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                 const std::string& tactic, std::unique_ptr<Kernel> fallback);

/// Up to `limit` engine configurations cuDNN's heuristics rank for these shapes, as tactics, best-ranked first;
/// empty when cuDNN has none (the caller keeps other paths). Engines that compile at run time come only when nothing
/// else applies, because each new input shape would compile again.
Expected<std::vector<std::string>> convGraphCandidates(const CudaContext& ctx, const ir::Graph& graph,
                                                       const ir::Node& node, std::span<const DeviceTensor> inputs,
                                                       std::span<const DeviceTensor> outputs, size_t limit);

}  // namespace kiln::backends::cuda

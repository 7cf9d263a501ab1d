// kiln's own depthwise convolution for NHWC (group == C_in == C_out, one filter per channel): 3x3, 5x5 and 7x7
// square kernels, stride 1 or 2 (the same on both axes), any padding, dilation 1; float32, float16 and bfloat16 with
// float32 accumulation; the node's fused epilogue (bias, residual, activation from conv_epilogue_activation.h) in
// the same pass over the output. Depthwise convs move few FLOPs per byte, so the kernel is built for bandwidth:
// each thread owns one vector of channels (16 bytes: 8 halves or 4 floats) at a few neighbouring output pixels
// along W, streams the input window through registers once per output row, and keeps its channels' filter taps in
// shared memory (float32). Several tile shapes are tactics ("kiln-dw:px<P>:cv<V>": P output pixels per thread, at
// most V channel vectors per block); conv_select.cpp races them against cuDNN and the answer check covers them.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "backends/cuda/activation_in_place.h"
#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// Tactics of this kernel start with this.
inline constexpr const char* kDepthwiseTacticPrefix = "kiln-dw:";

/// Ok when `node` is a Conv this kernel runs: data_format NHWC, X [N,H,W,C] and W [C,K,K,1] (KRSC) with group == C,
/// K in {3, 5, 7}, equal strides 1 or 2, dilations 1, non-negative pads, every input float32, float16 or bfloat16
/// of one type, and an activation conv_epilogue_activation.h knows. Otherwise says why, naming the node.
Status depthwiseConvQualifies(const ir::Graph& graph, const ir::Node& node);

/// The tactics worth racing at these shapes (X is inputs[0], NHWC): each tile shape, without duplicates that
/// the channel count makes identical.
std::vector<std::string> depthwiseConvTactics(std::span<const DeviceTensor> inputs);

/// The kernel for a qualifying node with one of depthwiseConvTactics' tactics ("" or an unknown one: a default
/// tile shape). Reads X, W, bias and residual from run()'s inputs (no packed copy, so the tuner's answer check
/// sees the weights it gives); workspace 0.
KernelResult makeDepthwiseConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                     const std::string& tactic);

// ---- launch interface of conv_depthwise.cu

/// One launch. X [n,height,width,channels], W [channels,kernel,kernel] (the KRSC weights' bytes), bias [channels]
/// or null, z (residual, or null) and Y [n,outHeight,outWidth,channels]. padTop/padLeft: zeros before the first row/column (the rest of the padding follows from the output
/// size). pixels: output pixels per thread along W (1, 2 or 4); channelVectors: most channel vectors per block.
struct DepthwiseConvArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;
  const void* z = nullptr;
  void* y = nullptr;
  int32_t n = 0, height = 0, width = 0, channels = 0, outHeight = 0, outWidth = 0;
  int32_t kernel = 3, stride = 1, padTop = 0, padLeft = 0;
  int32_t pixels = 2, channelVectors = 32;
  bool vectorized = false;  // 16-byte channel vectors: needs C % (16 / element size) == 0 and 16-byte aligned data
  InPlaceActivation activation;  // present false: none
};

/// Channels per vector when vectorized: 4 for float32, 8 for float16/bfloat16.
int depthwiseVectorWidth(DataType dtype);

/// Enqueues the convolution; cudaErrorInvalidValue for a type, kernel size, stride or tile it does not take.
cudaError_t launchDepthwiseConv(const DepthwiseConvArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

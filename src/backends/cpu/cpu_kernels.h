// The CPU reference kernels, one function per op family (src/backends/cpu/<family>.cpp). They work on host memory
// and are also what constant folding and the host-side shape program run.
#pragma once

#include <span>
#include <string>

#include "backends/backend.h"
#include "ir/graph.h"

namespace kiln::backends::cpu {

/// One node's inputs and preallocated outputs (shapes already inferred), all in host memory.
struct KernelCall {
  const ir::Graph& graph;
  const ir::Node& node;
  std::span<const DeviceTensor> inputs;
  std::span<const DeviceTensor> outputs;
  std::string where() const { return graph.describe(node) + ": "; }
};

Status runElementwise(const KernelCall& call);    // elementwise.cpp
Status runLinalg(const KernelCall& call);         // linalg.cpp (Conv, Gemm, MatMul, pools; BLAS-backed)
Status runNormalization(const KernelCall& call);  // normalization.cpp
Status runReduction(const KernelCall& call);      // reduction.cpp
Status runDataMovement(const KernelCall& call);   // data_movement.cpp
Status runGenerator(const KernelCall& call);      // generators.cpp
Status runQuantization(const KernelCall& call);   // quantization.cpp (QuantizeLinear, DequantizeLinear)
Status runAttention(const KernelCall& call);      // attention.cpp (FusedAttention, float32)

/// Runs any implemented node on host memory.
Status executeNode(const ir::Graph& graph, const ir::Node& node, std::span<const DeviceTensor> inputs,
                   std::span<const DeviceTensor> outputs);

}  // namespace kiln::backends::cpu

// INT8 by simulation (fake quantization): Q/DQ pairs in float at the activations and weights of Conv, Gemm and
// MatMul, so an engine computes what an INT8 engine computes on every backend until INT8 kernels exist.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::passes {

struct QuantizationCounts {
  int activations = 0;     // values given a QuantizeLinear -> DequantizeLinear pair
  int weights = 0;         // constant weights replaced by their per-channel int8 values, dequantized
  int withoutScale = 0;    // activations the scale table does not name (left in float)
};

/// Number of QuantizeLinear/DequantizeLinear nodes (a model with any is an explicit-quantization model).
int countQdqNodes(const ir::Graph& graph);

/// Symmetric per-channel scales of a float32 weight along `axis` (max |w| / 127; 1 for an all-zero channel).
std::vector<float> perChannelWeightScales(const Tensor& weight, int64_t axis);

/// For each Conv/Gemm/MatMul: every float32 activation input named in `activationScales` is read through
/// QuantizeLinear(int8, zero point 0) -> DequantizeLinear (one pair per value, shared by its readers); every
/// constant weight becomes DQ(Q(w)) with per-output-channel scales (Conv axis 0; Gemm/MatMul B along N), computed
/// here with ops/quantization.h's rounding (the value a Q/DQ pair on the weight would fold to).
Expected<QuantizationCounts> insertQuantization(ir::Graph& graph, const std::map<std::string, float>& activationScales);

}  // namespace kiln::passes

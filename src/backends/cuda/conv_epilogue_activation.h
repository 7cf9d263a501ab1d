// A fused conv activation (the node's kiln attribute "activation" and its parameters) in the two forms the cuDNN
// graph kernel can run it: as pointwise nodes of the conv's operation graph, and as an in-place kernel after a
// conv + bias + residual graph, for shapes where cuDNN has no engine for the whole graph.
#pragma once

#include <optional>
#include <vector>

#include "backends/cuda/activation_in_place.h"
#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// One pointwise node: y = mode(in) or y = mode(in, operand), computed in float32. The first step's `in` is the
/// value before the activation; each later step's is the previous step's result.
struct PointwiseStep {
  enum class Operand { kNone, kScalar, kActivationInput };
  explicit PointwiseStep(cudnnPointwiseMode_t m, Operand o = Operand::kNone, float value = 0.f)
      : mode(m), operand(o), scalar(value) {}
  cudnnPointwiseMode_t mode = CUDNN_POINTWISE_IDENTITY;
  Operand operand = Operand::kNone;
  float scalar = 0.f;  // a by-value scalar tensor when operand is kScalar
  std::optional<float> lowerClip, lowerSlope, eluAlpha, swishBeta;
};

struct EpilogueActivation {
  std::vector<PointwiseStep> steps;  // empty: no activation ("" or "Identity")
  InPlaceActivation inPlace;         // the same function for activationInPlace
  std::string name;                  // lower-case, for tactic text
  bool present() const { return !steps.empty(); }
};

/// The node's activation (Identity, Relu, LeakyRelu, Sigmoid, Silu, Tanh, Elu, Gelu, GeluTanh, HardSwish,
/// HardSigmoid, Clip), or unsupported naming the node.
Expected<EpilogueActivation> epilogueActivationOf(const ir::Graph& graph, const ir::Node& node);

}  // namespace kiln::backends::cuda

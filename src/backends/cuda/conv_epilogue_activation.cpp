#include "backends/cuda/conv_epilogue_activation.h"

#include <cctype>
#include <cmath>

namespace kiln::backends::cuda {
namespace {

using Operand = PointwiseStep::Operand;
using ops::FusedOpcode;

PointwiseStep unary(cudnnPointwiseMode_t mode) { return PointwiseStep(mode); }
PointwiseStep withScalar(cudnnPointwiseMode_t mode, float scalar) { return PointwiseStep(mode, Operand::kScalar, scalar); }

/// min(max(y, 0), 1): the clamp both hard functions end with.
void appendUnitClamp(std::vector<PointwiseStep>& steps) {
  steps.push_back(withScalar(CUDNN_POINTWISE_MAX, 0.f));
  steps.push_back(withScalar(CUDNN_POINTWISE_MIN, 1.f));
}

}  // namespace

Expected<EpilogueActivation> epilogueActivationOf(const ir::Graph& graph, const ir::Node& node) {
  const std::string name = node.attrs.getString("activation", "");
  EpilogueActivation a;
  for (char ch : name) a.name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto& steps = a.steps;
  auto& in = a.inPlace;
  if (name.empty() || name == "Identity") {  // Identity: the epilogue is bias and residual only
    in.present = false;
    return a;
  }
  if (name == "Relu") {
    steps.push_back(unary(CUDNN_POINTWISE_RELU_FWD));
    in.op = FusedOpcode::kRelu;
  } else if (name == "LeakyRelu") {
    PointwiseStep s = unary(CUDNN_POINTWISE_RELU_FWD);
    s.lowerClip = 0.f;
    s.lowerSlope = node.attrs.getFloat("activation_alpha", 0.01f);
    steps.push_back(s);
    in = {FusedOpcode::kLeakyRelu, {*s.lowerSlope, 0.f}};
  } else if (name == "Sigmoid") {
    steps.push_back(unary(CUDNN_POINTWISE_SIGMOID_FWD));
    in.op = FusedOpcode::kSigmoid;
  } else if (name == "Silu") {
    PointwiseStep s = unary(CUDNN_POINTWISE_SWISH_FWD);
    s.swishBeta = 1.f;
    steps.push_back(s);
    in = {FusedOpcode::kSigmoid, {0.f, 0.f}, /*timesInput=*/true};
  } else if (name == "Tanh") {
    steps.push_back(unary(CUDNN_POINTWISE_TANH_FWD));
    in.op = FusedOpcode::kTanh;
  } else if (name == "Elu") {
    PointwiseStep s = unary(CUDNN_POINTWISE_ELU_FWD);
    s.eluAlpha = node.attrs.getFloat("activation_alpha", 1.f);
    steps.push_back(s);
    in = {FusedOpcode::kElu, {*s.eluAlpha, 0.f}};
  } else if (name == "Gelu") {
    steps.push_back(unary(CUDNN_POINTWISE_GELU_FWD));
    in.op = FusedOpcode::kGelu;
  } else if (name == "GeluTanh") {
    steps.push_back(unary(CUDNN_POINTWISE_GELU_APPROX_TANH_FWD));
    in.op = FusedOpcode::kGeluTanh;
  } else if (name == "HardSwish") {
    // x * clamp(x / 6 + 1/2, 0, 1), ONNX's formula, as scalar pointwise nodes (cuDNN has no HardSwish mode).
    steps.push_back(withScalar(CUDNN_POINTWISE_MUL, 1.f / 6.f));
    steps.push_back(withScalar(CUDNN_POINTWISE_ADD, 0.5f));
    appendUnitClamp(steps);
    steps.push_back(PointwiseStep(CUDNN_POINTWISE_MUL, Operand::kActivationInput));
    in.op = FusedOpcode::kHardSwish;
  } else if (name == "HardSigmoid") {
    const float beta = node.attrs.getFloat("activation_beta", 0.5f);
    steps.push_back(withScalar(CUDNN_POINTWISE_MUL, node.attrs.getFloat("activation_alpha", 0.2f)));
    steps.push_back(withScalar(CUDNN_POINTWISE_ADD, beta));
    appendUnitClamp(steps);
    in = {FusedOpcode::kHardSigmoid, {node.attrs.getFloat("activation_alpha", 0.2f), beta}};
  } else if (name == "Clip") {
    const float lo = node.attrs.getFloat("activation_min", -INFINITY);
    const float hi = node.attrs.getFloat("activation_max", INFINITY);
    if (std::isnan(lo) || std::isnan(hi))
      return invalidModel(graph.describe(node) + ": fused Clip bounds must be numbers, found " + std::to_string(lo) +
                          " and " + std::to_string(hi));
    // max then min, as ONNX defines it (lo > hi gives hi); an infinite bound needs no node.
    if (std::isfinite(lo)) steps.push_back(withScalar(CUDNN_POINTWISE_MAX, lo));
    if (std::isfinite(hi)) steps.push_back(withScalar(CUDNN_POINTWISE_MIN, hi));
    in = {FusedOpcode::kClip, {lo, hi}};
  } else {
    return unsupported(graph.describe(node) + ": fused activation '" + name +
                       "' (cuDNN graph path: Identity, Relu, LeakyRelu, Sigmoid, Silu, Tanh, Elu, Gelu, GeluTanh, "
                       "HardSwish, HardSigmoid, Clip)");
  }
  return a;
}

}  // namespace kiln::backends::cuda

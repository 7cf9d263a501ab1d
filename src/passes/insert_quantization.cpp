#include "passes/insert_quantization.h"

#include <algorithm>
#include <cmath>

#include "ops/quantization.h"

namespace kiln::passes {
namespace {

using ir::OpKind;

bool isQuantizedLayer(OpKind op) { return op == OpKind::kConv || op == OpKind::kGemm || op == OpKind::kMatMul; }

/// The output-channel axis of a constant in `slot` of `node`, or -1 for one scale over the whole tensor.
int64_t weightAxis(const ir::Node& node, size_t slot, const Tensor& w) {
  if (w.rank() < 2) return -1;
  switch (node.op) {
    case OpKind::kConv: return slot == 1 ? 0 : -1;
    case OpKind::kGemm: return slot == 1 ? (node.attrs.getInt("transB", 0) ? 0 : 1) : -1;
    case OpKind::kMatMul: return slot == 1 ? w.rank() - 1 : -1;
    default: return -1;
  }
}

/// DQ(Q(w)) with int8 per-channel scales along `axis` (per tensor when axis < 0).
Expected<Tensor> fakeQuantizedWeight(const Tensor& w, int64_t axis) {
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(DataType::kFloat32, w.dims()));
  std::vector<float> scales;
  int64_t inner = w.elementCount(), channels = 1;
  if (axis >= 0) {
    scales = perChannelWeightScales(w, axis);
    channels = w.dims()[static_cast<size_t>(axis)];
    inner = 1;
    for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dims()[static_cast<size_t>(d)];
  } else {
    float amax = 0;
    for (int64_t i = 0; i < w.elementCount(); ++i) amax = std::max(amax, std::fabs(w.dataAs<float>()[i]));
    scales = {amax > 0 ? amax / 127.f : 1.f};
  }
  const ops::IntegerRange range = ops::integerRange(DataType::kInt8);
  for (int64_t i = 0; i < w.elementCount(); ++i) {
    const float s = scales[static_cast<size_t>((i / inner) % channels)];
    out.dataAs<float>()[i] = ops::quantizeToInteger(w.dataAs<float>()[i] / s, 0.f, range) * s;
  }
  return out;
}

}  // namespace

int countQdqNodes(const ir::Graph& graph) {
  int n = 0;
  for (const ir::Node& node : graph.nodes)
    n += node.op == OpKind::kQuantizeLinear || node.op == OpKind::kDequantizeLinear;
  return n;
}

std::vector<float> perChannelWeightScales(const Tensor& weight, int64_t axis) {
  const int64_t channels = weight.dims()[static_cast<size_t>(axis)];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < weight.rank(); ++d) inner *= weight.dims()[static_cast<size_t>(d)];
  std::vector<float> amax(static_cast<size_t>(channels), 0.f);
  const float* w = weight.dataAs<float>();
  for (int64_t i = 0; i < weight.elementCount(); ++i) {
    float& m = amax[static_cast<size_t>((i / inner) % channels)];
    m = std::max(m, std::fabs(w[i]));
  }
  for (float& m : amax) m = m > 0 ? m / 127.f : 1.f;
  return amax;
}

Expected<QuantizationCounts> insertQuantization(ir::Graph& graph, const std::map<std::string, float>& activationScales) {
  QuantizationCounts counts;
  std::map<ir::ValueId, ir::ValueId> dequantized;  // activation -> its DQ output
  std::map<ir::ValueId, ir::ValueId> weights;      // constant -> fake-quantized constant
  std::vector<ir::Node> added;
  const size_t original = graph.nodes.size();
  for (size_t i = 0; i < original; ++i) {
    if (!isQuantizedLayer(graph.nodes[i].op)) continue;
    // Slots 0 and 1 are the multiplied operands; a Conv/Gemm bias (slot 2) stays float, added to the accumulator.
    for (size_t slot = 0; slot < graph.nodes[i].inputs.size() && slot < 2; ++slot) {
      const ir::ValueId v = graph.nodes[i].inputs[slot];
      if (v == ir::kNoValue || graph.values[v].dtype != DataType::kFloat32) continue;
      if (const Tensor* w = graph.constantOf(v)) {
        if (auto it = weights.find(v); it != weights.end()) {
          graph.nodes[i].inputs[slot] = it->second;
          continue;
        }
        if (w->dtype() != DataType::kFloat32) continue;
        const int64_t axis = weightAxis(graph.nodes[i], slot, *w);
        KILN_ASSIGN_OR_RETURN(Tensor q, fakeQuantizedWeight(*w, axis));
        const std::string name = graph.values[v].name + "_int8_dq";
        const ir::ValueId c = graph.addConstant(name, std::move(q));
        weights[v] = c;
        graph.nodes[i].inputs[slot] = c;
        ++counts.weights;
        continue;
      }
      if (auto it = dequantized.find(v); it != dequantized.end()) {
        graph.nodes[i].inputs[slot] = it->second;
        continue;
      }
      const auto scale = activationScales.find(graph.values[v].name);
      if (scale == activationScales.end()) {
        ++counts.withoutScale;
        continue;
      }
      const std::string base = graph.values[v].name;
      KILN_ASSIGN_OR_RETURN(Tensor s, Tensor::allocate(DataType::kFloat32, {}));
      s.dataAs<float>()[0] = scale->second;
      KILN_ASSIGN_OR_RETURN(Tensor z, Tensor::allocate(DataType::kInt8, {}));
      const ir::ValueId scaleId = graph.addConstant(base + "_scale", std::move(s));
      const ir::ValueId zeroId = graph.addConstant(base + "_zero_point", std::move(z));
      const ir::ValueId q = graph.addValue(base + "_int8", DataType::kInt8);
      const ir::ValueId dq = graph.addValue(base + "_dq", DataType::kFloat32);
      for (ir::ValueId out : {q, dq}) {
        graph.values[out].rankKnown = graph.values[v].rankKnown;
        graph.values[out].dims = graph.values[v].dims;
        graph.values[out].dimNames = graph.values[v].dimNames;
      }
      ir::Node quantize{base + "_quantize", OpKind::kQuantizeLinear, {v, scaleId, zeroId}, {q}, {}};
      ir::Node dequantize{base + "_dequantize", OpKind::kDequantizeLinear, {q, scaleId, zeroId}, {dq}, {}};
      added.push_back(std::move(quantize));
      added.push_back(std::move(dequantize));
      dequantized[v] = dq;
      graph.nodes[i].inputs[slot] = dq;
      ++counts.activations;
    }
  }
  for (ir::Node& n : added) graph.nodes.push_back(std::move(n));
  KILN_RETURN_IF_ERROR(graph.topologicalSort());
  graph.removeDeadNodes();  // the float weights nothing reads any more
  return counts;
}

}  // namespace kiln::passes

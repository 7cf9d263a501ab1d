#include <cmath>

#include "passes/passes.h"

namespace kiln::passes {
namespace {

const Tensor* floatConstant(const ir::Graph& g, const ir::Node& n, size_t index) {
  if (index >= n.inputs.size() || n.inputs[index] == ir::kNoValue) return nullptr;
  const Tensor* t = g.constantOf(n.inputs[index]);
  return t && t->dtype() == DataType::kFloat32 ? t : nullptr;
}

}  // namespace

Expected<int> foldBatchNormIntoConv(ir::Graph& graph) {
  int folded = 0;
  std::vector<bool> remove(graph.nodes.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    ir::Node& bn = graph.nodes[i];
    if (bn.op != ir::OpKind::kBatchNormalization || bn.outputs.size() != 1 || bn.inputs.size() != 5) continue;
    const ir::ValueId x = bn.inputs[0];
    if (x == ir::kNoValue || graph.values[x].producer < 0 || graph.isGraphOutput(x)) continue;
    ir::Node& conv = graph.nodes[graph.values[x].producer];
    if (conv.op != ir::OpKind::kConv || conv.outputs.size() != 1 || graph.consumers(x).size() != 1) continue;
    const Tensor* w = floatConstant(graph, conv, 1);
    const Tensor* bias = floatConstant(graph, conv, 2);
    const Tensor *scale = floatConstant(graph, bn, 1), *beta = floatConstant(graph, bn, 2),
                 *mean = floatConstant(graph, bn, 3), *var = floatConstant(graph, bn, 4);
    if (!w || !scale || !beta || !mean || !var || w->rank() < 1) continue;
    if (conv.inputs.size() > 2 && conv.inputs[2] != ir::kNoValue && !bias) continue;
    const int64_t channels = w->dims()[0];
    if (scale->elementCount() != channels || beta->elementCount() != channels || mean->elementCount() != channels ||
        var->elementCount() != channels || (bias && bias->elementCount() != channels))
      continue;  // shape inference reports the mismatch later, with the node's name
    const float eps = bn.attrs.getFloat("epsilon", 1e-5f);
    KILN_ASSIGN_OR_RETURN(Tensor newW, w->clone());
    KILN_ASSIGN_OR_RETURN(Tensor newB, Tensor::allocate(DataType::kFloat32, {channels}));
    const int64_t perChannel = channels ? w->elementCount() / channels : 0;
    for (int64_t c = 0; c < channels; ++c) {
      const double k = scale->dataAs<float>()[c] / std::sqrt(static_cast<double>(var->dataAs<float>()[c]) + eps);
      float* wc = newW.dataAs<float>() + c * perChannel;
      for (int64_t j = 0; j < perChannel; ++j) wc[j] = static_cast<float>(wc[j] * k);
      const double b0 = bias ? bias->dataAs<float>()[c] : 0.0;
      newB.dataAs<float>()[c] = static_cast<float>((b0 - mean->dataAs<float>()[c]) * k + beta->dataAs<float>()[c]);
    }
    const ir::ValueId wId = graph.addConstant(conv.name + "_bn_folded_weight", std::move(newW));
    const ir::ValueId bId = graph.addConstant(conv.name + "_bn_folded_bias", std::move(newB));
    ir::Node& c = graph.nodes[graph.values[x].producer];  // addConstant may not move nodes, but be explicit
    c.inputs.resize(3);
    c.inputs[1] = wId;
    c.inputs[2] = bId;
    c.outputs[0] = graph.nodes[i].outputs[0];
    auto fusedNames = c.attrs.getStrings("fused_nodes");
    fusedNames.push_back(graph.nodes[i].name);
    c.attrs.set("fused_nodes", fusedNames);
    remove[i] = true;
    ++folded;
  }
  if (folded) KILN_RETURN_IF_ERROR(graph.eraseNodes(remove));
  return folded;
}

}  // namespace kiln::passes

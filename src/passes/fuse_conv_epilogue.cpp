#include "passes/passes.h"

namespace kiln::passes {
namespace {

/// The single node reading `v`, or -1 (graph outputs count as readers that block fusion).
int32_t soleConsumer(const ir::Graph& graph, ir::ValueId v) {
  if (graph.isGraphOutput(v)) return -1;
  const auto readers = graph.consumers(v);
  return readers.size() == 1 ? readers[0] : -1;
}

/// Same dtype and declared dims (a dynamic dim matches only a dynamic dim; shape inference checks the real ones).
bool sameDeclaredShape(const ir::Value& a, const ir::Value& b) {
  return a.rankKnown && b.rankKnown && a.dims == b.dims && a.dtype == b.dtype;
}

}  // namespace

Expected<int> fuseConvEpilogues(ir::Graph& graph) {
  int fused = 0;
  std::vector<bool> remove(graph.nodes.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    ir::Node& conv = graph.nodes[i];
    if (conv.op != ir::OpKind::kConv || remove[i] || conv.attrs.has("activation") || conv.outputs.size() != 1 ||
        conv.inputs.size() < 2)
      continue;
    // cuDNN's fused form needs a bias: it is y = act(conv(x) + z + bias).
    if (conv.inputs.size() < 3 || conv.inputs[2] == ir::kNoValue || !graph.isConstant(conv.inputs[2])) continue;
    ir::ValueId y = conv.outputs[0];
    int32_t next = soleConsumer(graph, y);
    if (next < 0) continue;
    ir::ValueId residual = ir::kNoValue;
    int32_t addIndex = -1;
    if (graph.nodes[next].op == ir::OpKind::kAdd && graph.nodes[next].inputs.size() == 2) {
      const ir::Node& add = graph.nodes[next];
      const ir::ValueId other = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
      // Same shape as the conv output (no broadcasting), and not the conv's own output twice.
      if (other == y || !sameDeclaredShape(graph.values[other], graph.values[y])) continue;
      residual = other;
      addIndex = next;
      next = soleConsumer(graph, add.outputs[0]);
      if (next < 0) continue;
    }
    if (graph.nodes[next].op != ir::OpKind::kRelu) continue;
    // Rewire: conv takes the residual and writes the Relu's output; the Add and Relu go away.
    std::vector<std::string> names = conv.attrs.getStrings("fused_nodes");
    if (addIndex >= 0) {
      conv.inputs.resize(4);
      conv.inputs[3] = residual;
      names.push_back(graph.nodes[addIndex].name);
      remove[addIndex] = true;
    }
    names.push_back(graph.nodes[next].name);
    conv.outputs[0] = graph.nodes[next].outputs[0];
    conv.attrs.set("activation", std::string("Relu"));
    conv.attrs.set("fused_nodes", names);
    remove[next] = true;
    ++fused;
  }
  if (fused) KILN_RETURN_IF_ERROR(graph.eraseNodes(remove));
  return fused;
}

}  // namespace kiln::passes

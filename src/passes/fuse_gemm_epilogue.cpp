// Gemm/MatMul + bias Add + Relu/GeluTanh -> one node that cuBLASLt runs with a BIAS/RELU/GELU epilogue.
#include <optional>

#include "passes/graph_patterns.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

bool isFloat(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16; }

/// [n] or [1, n]: a row vector added to every row of the product.
bool isRowVector(const Dims& d, int64_t n) {
  return (d.size() == 1 && d[0] == n) || (d.size() == 2 && d[0] == 1 && d[1] == n);
}

/// The product's N (its last dim), or nullopt when this node cannot take an epilogue. For MatMul, B must be one
/// constant [K,N] matrix (A's batch dims fold into M, so the bias broadcasts like the Add did) and A must have a row
/// dim (so a [1,N] bias does not change the output's rank).
std::optional<int64_t> epilogueColumns(const ir::Graph& graph, const ir::Node& node) {
  if (node.outputs.size() != 1 || node.inputs.size() < 2 || node.attrs.has("activation")) return std::nullopt;
  const ir::Value& y = graph.values[node.outputs[0]];
  if (!isFloat(y.dtype)) return std::nullopt;
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (node.inputs[i] != ir::kNoValue && graph.values[node.inputs[i]].dtype != y.dtype) return std::nullopt;
  if (node.op == ir::OpKind::kMatMul) {
    if (node.inputs.size() != 2) return std::nullopt;
    const Tensor* b = graph.constantOf(node.inputs[1]);
    const ir::Value& a = graph.values[node.inputs[0]];
    if (!b || b->dims().size() != 2 || !a.rankKnown || a.dims.size() < 2) return std::nullopt;
    return b->dims()[1];
  }
  if (node.op != ir::OpKind::kGemm) return std::nullopt;
  if (!y.rankKnown || y.dims.size() != 2 || y.dims[1] == kDynamicDim) return std::nullopt;
  const int64_t n = y.dims[1];
  const bool hasC = node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue;
  if (hasC) {  // only a bias-like C (beta 1, a row vector) keeps the epilogue form; others stay unfused
    const ir::Value& c = graph.values[node.inputs[2]];
    if (node.attrs.getFloat("beta", 1.f) != 1.f || !c.rankKnown || !isRowVector(c.dims, n)) return std::nullopt;
  }
  return n;
}

}  // namespace

Expected<int> fuseGemmEpilogues(ir::Graph& graph) {
  int fused = 0;
  std::vector<bool> remove(graph.nodes.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    ir::Node& node = graph.nodes[i];
    if ((node.op != ir::OpKind::kMatMul && node.op != ir::OpKind::kGemm) || remove[i]) continue;
    const std::optional<int64_t> n = epilogueColumns(graph, node);
    if (!n) continue;
    const ir::ValueId y = node.outputs[0];
    const DataType dtype = graph.values[y].dtype;
    const bool gemmHasC = node.op == ir::OpKind::kGemm && node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue;
    // The bias: Add(y, b) or Add(b, y) with a constant row vector b. A Gemm that already has C keeps it (summing two
    // biases would need a new constant); alpha scales the product only, but only alpha 1 is taken to keep it plain.
    const bool canTakeBias =
        node.op == ir::OpKind::kMatMul || (!gemmHasC && node.attrs.getFloat("alpha", 1.f) == 1.f);
    int32_t addIndex = -1;
    ir::ValueId bias = ir::kNoValue;
    const int32_t next = soleConsumer(graph, y);
    if (canTakeBias && next >= 0 && graph.nodes[next].op == ir::OpKind::kAdd && graph.nodes[next].inputs.size() == 2 &&
        graph.nodes[next].outputs.size() == 1) {
      const ir::Node& add = graph.nodes[next];
      const ir::ValueId other = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
      const Tensor* b = other == y ? nullptr : graph.constantOf(other);
      if (b && b->dtype() == dtype && isRowVector(b->dims(), *n)) {
        bias = other;
        addIndex = next;
      }
    }
    // The activation: Relu, or Gelu with the tanh approximation (cuBLASLt's GELU epilogue is that formula; the
    // exact erf Gelu would come out slightly but silently different, so it stays its own node).
    const ir::ValueId beforeActivation = addIndex >= 0 ? graph.nodes[addIndex].outputs[0] : y;
    int32_t activationIndex = soleConsumer(graph, beforeActivation);
    std::string activation;
    if (activationIndex >= 0) {
      const ir::Node& a = graph.nodes[activationIndex];
      if (a.outputs.size() == 1 && a.inputs.size() == 1) {
        if (a.op == ir::OpKind::kRelu) activation = "Relu";
        if (a.op == ir::OpKind::kGelu && a.attrs.getString("approximate", "none") == "tanh") activation = "GeluTanh";
      }
      if (activation.empty()) activationIndex = -1;
    }
    if (addIndex < 0 && activationIndex < 0) continue;  // nothing to gain
    std::vector<std::string> names = node.attrs.getStrings("fused_nodes");
    if (addIndex >= 0) {
      if (node.op == ir::OpKind::kMatMul) {
        node.inputs.push_back(bias);
      } else {
        node.inputs.resize(3);
        node.inputs[2] = bias;
        node.attrs.set("beta", 1.f);
      }
      names.push_back(graph.nodes[addIndex].name);
      remove[addIndex] = true;
      node.outputs[0] = graph.nodes[addIndex].outputs[0];
    }
    if (activationIndex >= 0) {
      names.push_back(graph.nodes[activationIndex].name);
      remove[activationIndex] = true;
      node.outputs[0] = graph.nodes[activationIndex].outputs[0];
      node.attrs.set("activation", activation);
    }
    node.attrs.set("fused_nodes", names);
    ++fused;
  }
  if (fused) KILN_RETURN_IF_ERROR(graph.eraseNodes(remove));
  return fused;
}

}  // namespace kiln::passes

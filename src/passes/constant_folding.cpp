#include <algorithm>

#include "backends/cpu/cpu_kernels.h"
#include "ops/data_dependent.h"
#include "ops/shape_inference.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

// Folding must not blow up the engine file (an Expand or ConstantOfShape of a large shape stays a node).
constexpr size_t kMaxFoldedBytes = 16u << 20;

bool staticShape(const ir::Value& v) {
  return v.rankKnown && std::none_of(v.dims.begin(), v.dims.end(), [](int64_t d) { return d < 0; });
}

Expected<Tensor> shapeAsTensor(const ir::Node& node, const ir::Value& v) {
  const auto rank = static_cast<int64_t>(v.dims.size());
  if (node.op == ir::OpKind::kSize) {
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(DataType::kInt64, {}));
    *t.dataAs<int64_t>() = elementCount(v.dims);
    return t;
  }
  int64_t start = node.attrs.getInt("start", 0), end = node.attrs.getInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(DataType::kInt64, {end - start}));
  for (int64_t i = start; i < end; ++i) t.dataAs<int64_t>()[i - start] = v.dims[i];
  return t;
}

}  // namespace

Expected<int> foldConstants(ir::Graph& graph) {
  int folded = 0;
  std::vector<bool> remove(graph.nodes.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    if ((n.op == ir::OpKind::kShape || n.op == ir::OpKind::kSize) && n.inputs.size() == 1 &&
        n.inputs[0] != ir::kNoValue && staticShape(graph.values[n.inputs[0]]) && n.outputs.size() == 1) {
      KILN_ASSIGN_OR_RETURN(Tensor t, shapeAsTensor(n, graph.values[n.inputs[0]]));
      graph.values[n.outputs[0]].dtype = t.dtype();
      graph.values[n.outputs[0]].rankKnown = true;
      graph.values[n.outputs[0]].dims = t.dims();
      graph.constants[n.outputs[0]] = std::move(t);
      remove[i] = true;
      ++folded;
      continue;
    }
    bool allConstant = !n.inputs.empty();
    for (ir::ValueId in : n.inputs)
      if (in != ir::kNoValue && !graph.isConstant(in)) allConstant = false;
    if (!allConstant || n.op == ir::OpKind::kIf) continue;  // If is inlined (passes/inline_control_flow.cpp)
    bool outputIsGraphOutput = false;
    for (ir::ValueId out : n.outputs) outputIsGraphOutput = outputIsGraphOutput || graph.isGraphOutput(out);
    if (outputIsGraphOutput) continue;  // a graph output stays produced by a node
    std::vector<ops::TensorInfo> infos;
    std::vector<backends::DeviceTensor> ins;
    for (ir::ValueId in : n.inputs) {
      ops::TensorInfo info;
      backends::DeviceTensor dt;
      if (in != ir::kNoValue) {
        const Tensor* c = graph.constantOf(in);
        info = {c->dtype(), c->dims(), c};
        dt = {c->dtype(), c->dims(), const_cast<void*>(c->data())};
      }
      infos.push_back(info);
      ins.push_back(dt);
    }
    // NonZero, Unique, NMS: their size is known only by running them; the shape program does that on the host.
    if (ops::isDataDependent({graph, n, infos})) continue;
    KILN_ASSIGN_OR_RETURN(auto outInfos, ops::inferOutputs(graph, n, infos));
    size_t bytes = 0;
    for (auto& o : outInfos) bytes += static_cast<size_t>(std::max<int64_t>(elementCount(o.dims), 0)) * dataTypeSize(o.dtype);
    if (bytes > kMaxFoldedBytes) continue;
    std::vector<Tensor> results;
    std::vector<backends::DeviceTensor> outs;
    for (auto& o : outInfos) {
      KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(o.dtype, o.dims));
      outs.push_back({t.dtype(), t.dims(), t.data()});
      results.push_back(std::move(t));
    }
    KILN_RETURN_IF_ERROR(backends::cpu::executeNode(graph, n, ins, outs).withContext("constant folding"));
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      ir::Value& v = graph.values[n.outputs[k]];
      v.dtype = results[k].dtype();
      v.rankKnown = true;
      v.dims = results[k].dims();
      graph.constants[n.outputs[k]] = std::move(results[k]);
    }
    remove[i] = true;
    ++folded;
  }
  if (folded) KILN_RETURN_IF_ERROR(graph.eraseNodes(remove));
  return folded;
}

}  // namespace kiln::passes

#include <algorithm>
#include <optional>

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

/// Slice or Gather (constant indices) of Shape(x) that picks only static dims of x is a constant even when other dims
/// of x are dynamic: the head size 16 of a [?, 4, ?, 16] tensor, from which torch's exporters compute
/// 1/sqrt(head size). Found by running the node on the dims' positions, so its own semantics pick them.
Expected<std::optional<Tensor>> staticPartOfShape(const ir::Graph& graph, const ir::Node& n) {
  if ((n.op != ir::OpKind::kSlice && n.op != ir::OpKind::kGather) || n.inputs.size() < 2 || n.outputs.size() != 1 ||
      n.inputs[0] == ir::kNoValue || graph.isGraphOutput(n.outputs[0]))
    return std::optional<Tensor>();
  const int32_t p = graph.values[n.inputs[0]].producer;
  if (p < 0 || graph.nodes[p].op != ir::OpKind::kShape || graph.nodes[p].inputs.size() != 1)
    return std::optional<Tensor>();
  const ir::Value& x = graph.values[graph.nodes[p].inputs[0]];
  if (!x.rankKnown) return std::optional<Tensor>();
  for (size_t i = 1; i < n.inputs.size(); ++i)
    if (n.inputs[i] != ir::kNoValue && !graph.isConstant(n.inputs[i])) return std::optional<Tensor>();
  KILN_ASSIGN_OR_RETURN(Tensor dims, shapeAsTensor(graph.nodes[p], x));
  KILN_ASSIGN_OR_RETURN(Tensor positions, Tensor::allocate(DataType::kInt64, dims.dims()));
  for (int64_t i = 0; i < dims.elementCount(); ++i) positions.dataAs<int64_t>()[i] = i;
  std::vector<ops::TensorInfo> infos{{DataType::kInt64, positions.dims(), &positions}};
  std::vector<backends::DeviceTensor> ins{{DataType::kInt64, positions.dims(), positions.data()}};
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    const Tensor* c = n.inputs[i] == ir::kNoValue ? nullptr : graph.constantOf(n.inputs[i]);
    infos.push_back(c ? ops::TensorInfo{c->dtype(), c->dims(), c} : ops::TensorInfo{});
    ins.push_back(c ? backends::DeviceTensor{c->dtype(), c->dims(), const_cast<void*>(c->data())}
                    : backends::DeviceTensor{});
  }
  // A node this cannot evaluate is left as it is, for the shape program to evaluate (or report) with real dims.
  auto outInfos = ops::inferOutputs(graph, n, infos);
  if (!outInfos || outInfos->size() != 1 || (*outInfos)[0].dtype != DataType::kInt64) return std::optional<Tensor>();
  KILN_ASSIGN_OR_RETURN(Tensor picked, Tensor::allocate(DataType::kInt64, (*outInfos)[0].dims));
  std::vector<backends::DeviceTensor> outs{{picked.dtype(), picked.dims(), picked.data()}};
  if (!backends::cpu::executeNode(graph, n, ins, outs).isOk()) return std::optional<Tensor>();
  for (int64_t i = 0; i < picked.elementCount(); ++i) {
    const int64_t at = picked.dataAs<int64_t>()[i];
    if (at < 0 || at >= dims.elementCount() || dims.dataAs<int64_t>()[at] < 0) return std::optional<Tensor>();
    picked.dataAs<int64_t>()[i] = dims.dataAs<int64_t>()[at];
  }
  return std::optional<Tensor>(std::move(picked));
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
    KILN_ASSIGN_OR_RETURN(std::optional<Tensor> picked, staticPartOfShape(graph, n));
    if (picked) {
      ir::Value& v = graph.values[n.outputs[0]];
      v.dtype = picked->dtype();
      v.rankKnown = true;
      v.dims = picked->dims();
      graph.constants[n.outputs[0]] = std::move(*picked);
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

#include "core/half.h"
#include "passes/passes.h"
#include "runtime/shape_program.h"

namespace kiln::passes {
namespace {

Expected<Tensor> toHalf(const Tensor& t) {
  KILN_ASSIGN_OR_RETURN(Tensor h, Tensor::allocate(DataType::kFloat16, t.dims()));
  const float* src = t.dataAs<float>();
  auto* dst = h.dataAs<uint16_t>();
  for (int64_t i = 0; i < t.elementCount(); ++i) dst[i] = floatToHalfBits(src[i]);
  return h;
}

// Inputs that are parameters read on the host, not data: they keep float32.
bool isParameterSlot(const ir::Node& n, size_t slot) { return n.op == ir::OpKind::kResize && (slot == 1 || slot == 2); }

}  // namespace

Status convertToHalfPrecision(ir::Graph& graph) {
  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
  // Constants read only by device nodes in data slots become float16.
  std::map<ir::ValueId, bool> convert;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    for (size_t s = 0; s < n.inputs.size(); ++s) {
      const ir::ValueId v = n.inputs[s];
      const Tensor* c = v == ir::kNoValue ? nullptr : graph.constantOf(v);
      if (!c || c->dtype() != DataType::kFloat32) continue;
      const bool ok = !program.hostNode[i] && !isParameterSlot(n, s);
      auto [it, inserted] = convert.emplace(v, ok);
      if (!inserted) it->second = it->second && ok;
    }
  }
  for (auto& [v, ok] : convert) {
    if (!ok) continue;
    KILN_ASSIGN_OR_RETURN(Tensor h, toHalf(graph.constants[v]));
    graph.constants[v] = std::move(h);
    graph.values[v].dtype = DataType::kFloat16;
  }
  // Device nodes that create float32 from nothing now create float16.
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    ir::Node& n = graph.nodes[i];
    if (program.hostNode[i]) continue;
    if (n.op == ir::OpKind::kCast && n.attrs.getInt("to", 0) == static_cast<int64_t>(DataType::kFloat32))
      n.attrs.set("to", static_cast<int64_t>(DataType::kFloat16));
    if (n.op == ir::OpKind::kConstantOfShape)
      if (const Tensor* t = n.attrs.getTensor("value"); t && t->dtype() == DataType::kFloat32) {
        KILN_ASSIGN_OR_RETURN(Tensor h, toHalf(*t));
        n.attrs.set("value", std::move(h));
      }
  }
  // Edges: float32 inputs are cast to float16 once; float32 outputs are cast back.
  std::vector<ir::Node> prologue;
  for (ir::ValueId in : graph.inputs) {
    if (graph.values[in].dtype != DataType::kFloat32) continue;
    const ir::ValueId half = graph.addValue(graph.values[in].name + "_fp16", DataType::kFloat16);
    graph.replaceAllUses(in, half);
    ir::Node cast;
    cast.name = graph.values[in].name + "_to_fp16";
    cast.op = ir::OpKind::kCast;
    cast.inputs = {in};
    cast.outputs = {half};
    cast.attrs.set("to", static_cast<int64_t>(DataType::kFloat16));
    prologue.push_back(std::move(cast));
  }
  // replaceAllUses also rewired graph outputs that were inputs; restore those (an input passed straight out).
  for (auto& out : graph.outputs)
    for (auto& n : prologue)
      if (out == n.outputs[0]) out = n.inputs[0];
  graph.nodes.insert(graph.nodes.begin(), prologue.begin(), prologue.end());
  for (auto& out : graph.outputs) {
    if (graph.values[out].dtype != DataType::kFloat32 || graph.values[out].producer < 0) continue;
    bool isInput = false;
    for (ir::ValueId in : graph.inputs) isInput = isInput || in == out;
    if (isInput) continue;
    const ir::ValueId half = graph.addValue(graph.values[out].name + "_fp16", DataType::kFloat16);
    for (auto& n : graph.nodes)
      for (auto& o : n.outputs)
        if (o == out) o = half;
    for (auto& n : graph.nodes)
      for (auto& i : n.inputs)
        if (i == out) i = half;
    ir::Node cast;
    cast.name = graph.values[out].name + "_to_fp32";
    cast.op = ir::OpKind::kCast;
    cast.inputs = {half};
    cast.outputs = {out};
    cast.attrs.set("to", static_cast<int64_t>(DataType::kFloat32));
    graph.nodes.push_back(std::move(cast));
  }
  return graph.topologicalSort();
}

}  // namespace kiln::passes

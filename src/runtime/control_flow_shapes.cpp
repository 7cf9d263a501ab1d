#include "runtime/control_flow_shapes.h"

namespace kiln::runtime {
namespace {

Expected<bool> conditionOf(const ir::Graph& graph, const ir::Node& node, const ops::TensorInfo& cond) {
  const std::string where = graph.describe(node) + ": ";
  if (!cond.present()) return invalidModel(where + "input 'cond' is missing");
  if (cond.value == nullptr)
    return unsupported(where + "the condition '" + graph.valueName(node.inputs[0]) +
                       "' depends on tensor data, not only on shapes; kiln runs If only when its condition is known "
                       "at build time (If on the device is not implemented yet)");
  if (cond.value->elementCount() != 1)
    return invalidModel(where + "the condition must hold one element; it has shape " + dimsToString(cond.dims));
  switch (cond.value->dtype()) {
    case DataType::kBool: return cond.value->dataAs<uint8_t>()[0] != 0;
    case DataType::kInt64: return cond.value->dataAs<int64_t>()[0] != 0;
    case DataType::kInt32: return cond.value->dataAs<int32_t>()[0] != 0;
    default: break;
  }
  return invalidModel(where + "the condition must be a bool tensor; it is " + dataTypeName(cond.dtype));
}

}  // namespace

Status resolveIf(const ir::Graph& graph, const ir::Node& node, std::span<const ops::TensorInfo> inputs,
                 ResolvedShapes& resolved) {
  const std::string where = graph.describe(node);
  // passes/inline_control_flow.cpp unrolls every Loop whose trip count and condition are constants; one still here
  // computes them from dims that the model leaves dynamic.
  if (node.op == ir::OpKind::kLoop)
    return unsupported(where + ": its trip count or condition is computed from dims the model leaves dynamic; kiln "
                       "unrolls a Loop only when both are constants in the model or after folding static dims");
  if (inputs.empty()) return invalidModel(where + ": input 'cond' is missing");
  KILN_ASSIGN_OR_RETURN(bool cond, conditionOf(graph, node, inputs[0]));
  const char* name = cond ? "then_branch" : "else_branch";
  const auto it = node.subgraphs.find(name);
  if (it == node.subgraphs.end() || !it->second) return invalidModel(where + ": the node has no " + name + " subgraph");
  // The branch as a graph of its own: outer values known on the host become its constants, the others its inputs.
  ir::Graph branch = *it->second;
  if (branch.inputs.size() + 1 != inputs.size())
    return internalError(where + ": " + name + " reads " + std::to_string(branch.inputs.size()) +
                         " outer values but the node passes " + std::to_string(inputs.size() - 1));
  std::map<ir::ValueId, Dims> inputDims;
  std::vector<ir::ValueId> deviceInputs;
  for (size_t k = 0; k < branch.inputs.size(); ++k) {
    const ir::ValueId id = branch.inputs[k];
    const ops::TensorInfo& outer = inputs[k + 1];
    if (!outer.present()) return invalidModel(where + ": outer value " + std::to_string(k) + " is missing");
    if (outer.value) {
      branch.constants[id] = *outer.value;
      continue;
    }
    branch.values[id].dtype = outer.dtype;
    inputDims[id] = outer.dims;
    deviceInputs.push_back(id);
  }
  branch.inputs = std::move(deviceInputs);
  auto inner = resolveShapes(branch, analyzeShapeProgram(branch), inputDims);
  if (!inner) return inner.status().withContext(where + ", in its " + name);
  if (!inner->counted.empty())
    return unsupported(where + ": " + name + " holds " + branch.describe(branch.nodes[inner->counted[0].node]) +
                       ", whose output size depends on data; kiln runs a branch with such nodes only in an If "
                       "decided by a data-dependent count whose other branch yields only empty constants "
                       "(passes/select_empty_branch.cpp); this If would need If on the device, which kiln does not "
                       "have yet");
  if (branch.outputs.size() < node.outputs.size())
    return invalidModel(where + ": " + name + " has " + std::to_string(branch.outputs.size()) +
                        " outputs; the node has " + std::to_string(node.outputs.size()));
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    const ir::ValueId from = branch.outputs[k], to = node.outputs[k];
    resolved.dtypes[to] = inner->dtypes[from];
    resolved.dims[to] = inner->dims[from];
    if (const Tensor* c = branch.constantOf(from)) resolved.hostValues[to] = *c;
    else if (auto h = inner->hostValues.find(from); h != inner->hostValues.end()) resolved.hostValues[to] = h->second;
  }
  return Status::ok();
}

}  // namespace kiln::runtime

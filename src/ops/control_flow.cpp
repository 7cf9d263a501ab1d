#include "ops/control_flow.h"

namespace kiln::ops {
namespace {

Expected<bool> conditionOf(const InferenceCall& call) {
  if (call.inputs.empty() || !call.inputs[0].present())
    return invalidModel(call.where() + "input 'cond' is missing");
  const TensorInfo& cond = call.inputs[0];
  if (cond.value == nullptr)
    return unsupported(call.where() + "the condition '" + call.graph.valueName(call.node.inputs[0]) +
                       "' depends on tensor data, not only on shapes; kiln runs If only when its condition is known "
                       "at build time (If on the device is not implemented yet)");
  if (cond.value->elementCount() != 1)
    return invalidModel(call.where() + "the condition must hold one element; it has shape " +
                        dimsToString(cond.dims));
  switch (cond.value->dtype()) {
    case DataType::kBool: return cond.value->dataAs<uint8_t>()[0] != 0;
    case DataType::kInt64: return cond.value->dataAs<int64_t>()[0] != 0;
    case DataType::kInt32: return cond.value->dataAs<int32_t>()[0] != 0;
    default: break;
  }
  return invalidModel(call.where() + "the condition must be a bool tensor; it is " + dataTypeName(cond.dtype));
}

}  // namespace

Expected<std::vector<TensorInfo>> inferIf(const InferenceCall& call) {
  KILN_ASSIGN_OR_RETURN(bool cond, conditionOf(call));
  const char* branchName = cond ? "then_branch" : "else_branch";
  const auto it = call.node.subgraphs.find(branchName);
  if (it == call.node.subgraphs.end() || !it->second)
    return invalidModel(call.where() + "the node has no " + branchName + " subgraph");
  const ir::Graph& branch = *it->second;
  if (branch.inputs.size() + 1 != call.inputs.size())
    return internalError(call.where() + branchName + " reads " + std::to_string(branch.inputs.size()) +
                         " outer-scope values but the node passes " + std::to_string(call.inputs.size() - 1));
  std::vector<TensorInfo> info(branch.values.size());
  for (size_t k = 0; k < branch.inputs.size(); ++k) info[branch.inputs[k]] = call.inputs[k + 1];
  for (const auto& [id, tensor] : branch.constants) info[id] = {tensor.dtype(), tensor.dims(), &tensor};
  for (const ir::Node& node : branch.nodes) {  // topologically ordered by the importer's verify
    std::vector<TensorInfo> inputs;
    for (ir::ValueId v : node.inputs) inputs.push_back(v == ir::kNoValue ? TensorInfo{} : info[v]);
    auto outputs = inferOutputs(branch, node, inputs);
    if (!outputs) return outputs.status().withContext(call.graph.describe(call.node) + ", in its " + branchName);
    for (size_t k = 0; k < node.outputs.size() && k < outputs->size(); ++k) {
      info[node.outputs[k]] = (*outputs)[k];
      info[node.outputs[k]].value = nullptr;  // the branch's host values are not evaluated here
    }
  }
  std::vector<TensorInfo> result;
  for (ir::ValueId v : branch.outputs) {
    if (!info[v].present()) return invalidModel(call.where() + branchName + " output '" + branch.valueName(v) +
                                                "' is not computed");
    result.push_back(info[v]);
  }
  if (result.size() < call.node.outputs.size())
    return invalidModel(call.where() + branchName + " has " + std::to_string(result.size()) +
                        " outputs; the node has " + std::to_string(call.node.outputs.size()));
  return result;
}

}  // namespace kiln::ops

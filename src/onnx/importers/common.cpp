#include <cstring>

#include "onnx/node_import.h"

namespace kiln::onnx {

ir::ValueId addInt64Constant(NodeImport& import, const std::string& suffix, const std::vector<int64_t>& values) {
  auto tensor = Tensor::allocate(DataType::kInt64, {static_cast<int64_t>(values.size())});
  // An allocation of a few int64 cannot fail short of memory exhaustion; an empty tensor is still well-formed.
  Tensor t = tensor ? std::move(tensor).value() : Tensor();
  if (!values.empty() && t.data()) std::memcpy(t.data(), values.data(), values.size() * sizeof(int64_t));
  return import.graph.addConstant(import.node.name + "_" + suffix, std::move(t));
}

ir::ValueId addFloatScalarConstant(NodeImport& import, const std::string& suffix, float value) {
  auto tensor = Tensor::allocate(DataType::kFloat32, {});
  Tensor t = tensor ? std::move(tensor).value() : Tensor();
  if (t.data()) *t.dataAs<float>() = value;
  return import.graph.addConstant(import.node.name + "_" + suffix, std::move(t));
}

Status setInputSlot(NodeImport& import, size_t index, ir::ValueId value, const std::string& attrName) {
  auto& inputs = import.node.inputs;
  if (index < inputs.size() && inputs[index] != ir::kNoValue)
    return invalidModel("has both attribute '" + attrName + "' and input " + std::to_string(index) + " ('" +
                        import.graph.valueName(inputs[index]) + "'); give only one");
  if (inputs.size() <= index) inputs.resize(index + 1, ir::kNoValue);
  inputs[index] = value;
  return Status::ok();
}

Status moveIntsAttributeToInput(NodeImport& import, const std::string& attrName, size_t inputIndex) {
  auto& attrs = import.node.attrs;
  if (!attrs.has(attrName)) return Status::ok();
  const auto* ints = std::get_if<std::vector<int64_t>>(&attrs.all().at(attrName));
  if (!ints) return invalidModel("attribute '" + attrName + "' must be a list of ints");
  const std::vector<int64_t> values = *ints;
  if (inputIndex < import.node.inputs.size() && import.node.inputs[inputIndex] != ir::kNoValue)
    return setInputSlot(import, inputIndex, ir::kNoValue, attrName);  // reports the conflict
  KILN_RETURN_IF_ERROR(setInputSlot(import, inputIndex, addInt64Constant(import, attrName, values), attrName));
  attrs.erase(attrName);
  return Status::ok();
}

Status checkInputCount(const NodeImport& import, size_t minInputs, size_t maxInputs) {
  const auto& inputs = import.node.inputs;
  if (inputs.size() > maxInputs)
    return invalidModel("has " + std::to_string(inputs.size()) + " inputs, at most " + std::to_string(maxInputs) +
                        " expected");
  for (size_t i = 0; i < minInputs; ++i)
    if (i >= inputs.size() || inputs[i] == ir::kNoValue)
      return invalidModel("input " + std::to_string(i) + " is required but missing");
  return Status::ok();
}

Status importAsIs(NodeImport&) { return Status::ok(); }

}  // namespace kiln::onnx

// Elementwise ops with import-time normalization: Clip (min/max as inputs), Cast (`to` checked), Dropout.
#include "onnx/node_import.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx {

Status importClip(NodeImport& import) {
  // Opset < 11 form: min and max were float attributes.
  auto& attrs = import.node.attrs;
  for (const auto& [name, slot] : {std::pair<const char*, size_t>{"min", 1}, {"max", 2}}) {
    if (!attrs.has(name)) continue;
    const auto* value = std::get_if<float>(&attrs.all().at(name));
    if (!value) return invalidModel(std::string("attribute '") + name + "' must be a float");
    KILN_RETURN_IF_ERROR(setInputSlot(import, slot, addFloatScalarConstant(import, name, *value), name));
    attrs.erase(name);
  }
  return checkInputCount(import, 1, 3);
}

Status importCast(NodeImport& import) {
  KILN_RETURN_IF_ERROR(checkInputCount(import, 1, 1));
  const auto& attrs = import.node.attrs;
  if (!attrs.has("to")) return invalidModel("attribute 'to' is required");
  if (!std::holds_alternative<int64_t>(attrs.all().at("to"))) return invalidModel("attribute 'to' must be an int");
  const int64_t to = attrs.getInt("to", 0);
  if (to < INT32_MIN || to > INT32_MAX) return invalidModel("attribute 'to' is " + std::to_string(to));
  return dataTypeFromOnnx(static_cast<int32_t>(to), "attribute 'to'").status();
}

namespace {
Status importDropout(NodeImport& import) {
  auto& node = import.node;
  KILN_RETURN_IF_ERROR(checkInputCount(import, 1, 3));
  if (node.outputs.size() > 2) return invalidModel("has " + std::to_string(node.outputs.size()) + " outputs, at most 2");
  if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue) {
    const Tensor* training = import.graph.constantOf(node.inputs[2]);
    const bool isFalse = training && training->dtype() == DataType::kBool && training->elementCount() == 1 &&
                         *training->dataAs<uint8_t>() == 0;
    if (!isFalse) return unsupported("training_mode must be a constant false (kiln imports Dropout for inference)");
  }
  if (node.outputs.size() == 2 && import.isRead(node.outputs[1]))
    return unsupported("mask output '" + import.graph.valueName(node.outputs[1]) +
                       "' is used; kiln imports Dropout for inference, where there is no mask");
  node.op = ir::OpKind::kIdentity;
  node.inputs.resize(1);
  node.outputs.resize(1);
  node.attrs = ir::Attributes();  // seed
  return Status::ok();
}
}  // namespace

Status importIdentityOrDropout(NodeImport& import) {
  if (import.proto.op_type() == "Dropout") return importDropout(import);
  return checkInputCount(import, 1, 1);
}

}  // namespace kiln::onnx

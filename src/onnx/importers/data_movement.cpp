// Data movement ops whose ONNX form changed over opsets; kiln's IR keeps the newest (input) form.
#include "onnx/node_import.h"

namespace kiln::onnx {

Status importSqueezeUnsqueeze(NodeImport& import) {
  // Before opset 13 axes were an attribute; Unsqueeze needs them, Squeeze without axes drops every 1-sized dim.
  KILN_RETURN_IF_ERROR(checkInputCount(import, 1, 2));
  KILN_RETURN_IF_ERROR(moveIntsAttributeToInput(import, "axes", 1));
  if (import.node.op == ir::OpKind::kUnsqueeze) return checkInputCount(import, 2, 2);
  return Status::ok();
}

Status importSplit(NodeImport& import) {
  KILN_RETURN_IF_ERROR(checkInputCount(import, 1, 2));
  KILN_RETURN_IF_ERROR(moveIntsAttributeToInput(import, "split", 1));
  auto& node = import.node;
  if (node.outputs.empty()) return invalidModel("has no outputs");
  const bool hasSizes = node.inputs.size() > 1 && node.inputs[1] != ir::kNoValue;
  if (hasSizes && node.attrs.has("num_outputs"))
    return invalidModel("has both input 'split' and attribute 'num_outputs'; give only one");
  // Before opset 18 an absent `split` meant "equal parts, one per output"; say so explicitly.
  if (!hasSizes && !node.attrs.has("num_outputs"))
    node.attrs.set("num_outputs", static_cast<int64_t>(node.outputs.size()));
  if (!hasSizes && node.attrs.getInt("num_outputs", -1) != static_cast<int64_t>(node.outputs.size()))
    return invalidModel("attribute num_outputs is " + std::to_string(node.attrs.getInt("num_outputs", -1)) +
                        " but the node has " + std::to_string(node.outputs.size()) + " outputs");
  return Status::ok();
}

Status importPad(NodeImport& import) {
  // Opset < 11 form: pads and value were attributes.
  KILN_RETURN_IF_ERROR(moveIntsAttributeToInput(import, "pads", 1));
  auto& attrs = import.node.attrs;
  if (attrs.has("value")) {
    const auto* value = std::get_if<float>(&attrs.all().at("value"));
    if (!value) return invalidModel("attribute 'value' must be a float");
    KILN_RETURN_IF_ERROR(setInputSlot(import, 2, addFloatScalarConstant(import, "value", *value), "value"));
    attrs.erase("value");
  }
  return checkInputCount(import, 2, 4);
}

Status importResize(NodeImport& import) {
  // Opset 13+ form: X, roi, scales, sizes. The opset-10 form (X, scales) is outside kiln's opset range.
  if (import.node.attrs.has("scales")) return unsupported("the Upsample-style 'scales' attribute is not supported");
  KILN_RETURN_IF_ERROR(checkInputCount(import, 1, 4));
  const auto& in = import.node.inputs;
  const bool hasScales = in.size() > 2 && in[2] != ir::kNoValue;
  const bool hasSizes = in.size() > 3 && in[3] != ir::kNoValue;
  if (hasScales == hasSizes) return invalidModel("needs exactly one of the inputs 'scales' (2) and 'sizes' (3)");
  return Status::ok();
}

}  // namespace kiln::onnx

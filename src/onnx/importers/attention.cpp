// ONNX Attention (opset 23) onto kiln's FusedAttention (ops/attention.h): Q, K, V and the optional mask map as they
// are; is_causal, scale, q_num_heads and kv_num_heads keep their names. What has no FusedAttention form (a KV cache,
// softcap, the extra outputs) is refused with the reason, so the support check lists it with the node's name.
#include <algorithm>
#include <iterator>
#include <variant>

#include "onnx/node_import.h"

namespace kiln::onnx {

Status importAttention(NodeImport& import) {
  ir::Node& node = import.node;
  const auto& attrs = node.attrs;
  if (import.opset < 23)
    return unsupported(
        "Attention is an opset 23 operator; this model imports "
        "the default domain at opset " +
        std::to_string(import.opset));
  KILN_RETURN_IF_ERROR(checkInputCount(import, 3, 7));
  const char* extraInputs[] = {"past_key", "past_value", "nonpad_kv_seqlen"};
  for (size_t i = 4; i < node.inputs.size(); ++i)
    if (node.inputs[i] != ir::kNoValue)
      return unsupported(std::string("input ") + std::to_string(i) + " (" + extraInputs[i - 4] + ", '" +
                         import.graph.valueName(node.inputs[i]) + "') is not supported: kiln's attention has no KV " +
                         "cache or per-batch key lengths yet");
  if (node.inputs.size() > 4) node.inputs.resize(4);
  if (node.inputs.size() == 4 && node.inputs[3] == ir::kNoValue) node.inputs.resize(3);

  const char* outputs[] = {"Y", "present_key", "present_value", "qk_matmul_output"};
  if (node.outputs.size() > 4)
    return invalidModel("has " + std::to_string(node.outputs.size()) + " outputs, at most 4");
  for (size_t k = 1; k < node.outputs.size(); ++k)
    if (node.outputs[k] != ir::kNoValue && import.isRead(node.outputs[k]))
      return unsupported(std::string("output ") + std::to_string(k) + " (" + outputs[k] + ", '" +
                         import.graph.valueName(node.outputs[k]) + "') is used; kiln computes only Y");
  node.outputs.resize(1);

  for (const char* name : {"is_causal", "q_num_heads", "kv_num_heads", "qk_matmul_output_mode", "softmax_precision"}) {
    auto it = attrs.all().find(name);
    if (it != attrs.all().end() && !std::holds_alternative<int64_t>(it->second))
      return invalidModel(std::string("attribute '") + name + "' must be an int");
  }
  for (const char* name : {"scale", "softcap"}) {
    auto it = attrs.all().find(name);
    if (it != attrs.all().end() && !std::holds_alternative<float>(it->second))
      return invalidModel(std::string("attribute '") + name + "' must be a float");
  }
  for (const auto& [name, value] : attrs.all()) {
    static const char* known[] = {"is_causal",         "q_num_heads", "kv_num_heads", "qk_matmul_output_mode",
                                  "softmax_precision", "scale",       "softcap",      "left_window_size",
                                  "right_window_size"};
    if (std::find(std::begin(known), std::end(known), name) == std::end(known))
      return unsupported("attribute '" + name + "' is not supported");
  }
  for (const char* name : {"left_window_size", "right_window_size"})
    if (attrs.getInt(name, -1) != -1)
      return unsupported(std::string("attribute ") + name + " = " + std::to_string(attrs.getInt(name, -1)) +
                         " is not supported (only -1, no sliding window)");
  if (attrs.getFloat("softcap", 0.f) != 0.f)
    return unsupported("attribute softcap = " + std::to_string(attrs.getFloat("softcap", 0.f)) +
                       " is not supported (only 0, no capping)");
  const int64_t causal = attrs.getInt("is_causal", 0);
  if (causal != 0 && causal != 1)
    return invalidModel("attribute is_causal is " + std::to_string(causal) + ", expected 0 or 1");
  // Kiln's softmax statistics are float32 whatever softmax_precision asks, which is at least as precise; the mode only
  // shapes the qk_matmul_output refused above.
  node.attrs.erase("softmax_precision");
  node.attrs.erase("qk_matmul_output_mode");
  node.attrs.erase("softcap");
  node.attrs.erase("left_window_size");
  node.attrs.erase("right_window_size");
  // ONNX's reference gives a row with nothing to attend to (a fully masked boolean row) zeros, not NaN.
  node.attrs.set("zero_masked_rows", int64_t{1});
  return Status::ok();
}

}  // namespace kiln::onnx

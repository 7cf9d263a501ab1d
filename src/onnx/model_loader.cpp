#include "onnx/model_loader.h"

#include <climits>
#include <string>

namespace kiln::onnx {

bool isDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

Expected<::onnx::ModelProto> parseModelProto(const void* data, size_t size) {
  if (data == nullptr && size != 0) return invalidArgument("model bytes are null but the size is " + std::to_string(size));
  if (size == 0) return invalidModel("the model is empty (0 bytes)");
  // protobuf's array parser takes an int; a larger serialized model cannot be a valid single protobuf message.
  if (size > static_cast<size_t>(INT_MAX))
    return invalidModel("the model is " + std::to_string(size) + " bytes; protobuf models are limited to " +
                        std::to_string(INT_MAX) + " bytes (use external data for large weights)");
  ::onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size)))
    return invalidModel("the model is not a valid ONNX ModelProto (" + std::to_string(size) +
                        " bytes could not be parsed as protobuf: truncated or not an ONNX file)");
  if (!model.has_graph()) return invalidModel("the ModelProto has no graph");
  return model;
}

Expected<int64_t> defaultDomainOpset(const ::onnx::ModelProto& model) {
  int64_t version = -1;
  for (const auto& opset : model.opset_import()) {
    if (!isDefaultDomain(opset.domain())) continue;
    if (version != -1 && version != opset.version())
      return invalidModel("opset_import lists the default domain twice, with versions " + std::to_string(version) +
                          " and " + std::to_string(opset.version()));
    version = opset.version();
  }
  if (version == -1) {
    // A model written only in other domains (ai.onnx.ml, training) is valid ONNX that kiln does not run.
    std::string others;
    for (const auto& opset : model.opset_import()) others += (others.empty() ? "'" : ", '") + opset.domain() + "'";
    if (!others.empty())
      return unsupported("the model uses only the operator domain(s) " + others +
                         "; kiln supports the default ONNX domain");
    return invalidModel("opset_import has no entry for the default ONNX domain");
  }
  if (version < kMinOpset || version > kMaxOpset)
    return unsupported("default-domain opset " + std::to_string(version) + " is not supported (kiln imports opsets " +
                       std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) +
                       "; convert the model with onnx.version_converter)");
  return version;
}

}  // namespace kiln::onnx

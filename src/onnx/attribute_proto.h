// AttributeProto → ir::AttributeValue, keeping ONNX names and kinds.
#pragma once

#include <string>

#include "ir/attributes.h"
#include "kiln/status.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

/// Converts every attribute of `node`. Graph, sparse-tensor and type attributes give kUnsupported; a nameless,
/// duplicated or untyped attribute gives kInvalidModel. Tensor attributes may use external data inside baseDir.
Expected<ir::Attributes> convertAttributes(const ::onnx::NodeProto& node, const std::string& baseDir);

/// One attribute (used by Constant, whose attributes become a tensor rather than node attributes).
Expected<ir::AttributeValue> convertAttribute(const ::onnx::AttributeProto& attr, const std::string& baseDir);

}  // namespace kiln::onnx

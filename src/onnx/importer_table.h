// Which importer normalizes each op kind, and which ONNX op_type names map to which kind.
#pragma once

#include <optional>
#include <string>

#include "ir/op_kind.h"
#include "onnx/node_import.h"

namespace kiln::onnx {

ImportFn importerFor(ir::OpKind kind);
/// Default-domain op_type → kind, including inference aliases (Dropout → Identity); nullopt when unknown.
std::optional<ir::OpKind> opKindForOnnx(const std::string& opType);

}  // namespace kiln::onnx

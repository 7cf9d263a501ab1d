// ValueInfoProto (declared type and shape of a graph input, output or intermediate) → ir::Value.
#pragma once

#include <string>

#include "ir/graph.h"
#include "kiln/status.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

/// Sets dtype, rank and dims (kDynamicDim with its dim_param name where symbolic) of `value`. A missing type leaves
/// the value untyped unless `typeRequired`. `what` names the value in messages ("graph input 'x'").
Status applyValueInfo(const ::onnx::ValueInfoProto& info, ir::Value& value, bool typeRequired, const std::string& what);

}  // namespace kiln::onnx

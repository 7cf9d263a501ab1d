#include "onnx/value_info.h"

#include "onnx/tensor_proto.h"

namespace kiln::onnx {

Status applyValueInfo(const ::onnx::ValueInfoProto& info, ir::Value& value, bool typeRequired, const std::string& what) {
  if (!info.has_type()) {
    if (typeRequired) return invalidModel(what + " has no type");
    return Status::ok();
  }
  const auto& type = info.type();
  if (!type.has_tensor_type())
    return unsupported(what + " is not a tensor (sequence, map, optional and sparse types are not supported)");
  const auto& tensorType = type.tensor_type();
  if (!tensorType.has_elem_type()) {
    if (typeRequired) return invalidModel(what + " has no element type");
  } else {
    KILN_ASSIGN_OR_RETURN(value.dtype, dataTypeFromOnnx(tensorType.elem_type(), what));
  }
  if (!tensorType.has_shape()) {
    value.rankKnown = false;
    value.dims.clear();
    value.dimNames.clear();
    return Status::ok();
  }
  const auto& shape = tensorType.shape();
  if (shape.dim_size() > static_cast<int>(kMaxRank))
    return invalidModel(what + " has rank " + std::to_string(shape.dim_size()) + ", above the limit of " +
                        std::to_string(kMaxRank));
  Dims dims;
  std::vector<std::string> names;
  bool anyName = false;
  for (int i = 0; i < shape.dim_size(); ++i) {
    const auto& d = shape.dim(i);
    if (d.has_dim_value()) {
      if (d.dim_value() < 0 || d.dim_value() > kMaxDim)
        return invalidModel(what + ": dim " + std::to_string(i) + " is " + std::to_string(d.dim_value()) +
                            " (expected 0.." + std::to_string(kMaxDim) + " or a symbolic name)");
      dims.push_back(d.dim_value());
      names.emplace_back();
    } else {
      dims.push_back(kDynamicDim);
      names.push_back(d.has_dim_param() ? d.dim_param() : std::string());
      anyName = anyName || !names.back().empty();
    }
  }
  value.rankKnown = true;
  value.dims = std::move(dims);
  value.dimNames = anyName ? std::move(names) : std::vector<std::string>();
  return Status::ok();
}

}  // namespace kiln::onnx

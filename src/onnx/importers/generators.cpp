// Constant nodes become graph constants; this file turns their attributes into the tensor.
#include <cstring>

#include "onnx/attribute_proto.h"
#include "onnx/node_import.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx {
namespace {
template <typename T>
Expected<Tensor> vectorTensor(DataType type, const std::vector<T>& values, bool scalar) {
  Dims dims;
  if (!scalar) dims.push_back(static_cast<int64_t>(values.size()));
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(type, dims));
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
  return t;
}
}  // namespace

Expected<Tensor> constantNodeTensor(const ::onnx::NodeProto& proto, const std::string& baseDir) {
  if (proto.attribute_size() != 1)
    return invalidModel("needs exactly one value attribute, found " + std::to_string(proto.attribute_size()));
  const auto& attr = proto.attribute(0);
  const std::string& name = attr.name();
  if (name == "sparse_value") return unsupported("sparse_value constants are not supported");
  if (name == "value_string" || name == "value_strings") return unsupported("string constants are not supported");
  if (name != "value" && name != "value_float" && name != "value_floats" && name != "value_int" &&
      name != "value_ints")
    return invalidModel("unknown attribute '" + name + "'");
  KILN_ASSIGN_OR_RETURN(ir::AttributeValue value, convertAttribute(attr, baseDir));
  if (name == "value") {
    if (auto* t = std::get_if<Tensor>(&value)) return *t;
  } else if (name == "value_float") {
    if (auto* f = std::get_if<float>(&value)) return vectorTensor(DataType::kFloat32, std::vector<float>{*f}, true);
  } else if (name == "value_floats") {
    if (auto* f = std::get_if<std::vector<float>>(&value)) return vectorTensor(DataType::kFloat32, *f, false);
  } else if (name == "value_int") {
    if (auto* i = std::get_if<int64_t>(&value)) return vectorTensor(DataType::kInt64, std::vector<int64_t>{*i}, true);
  } else if (name == "value_ints") {
    if (auto* i = std::get_if<std::vector<int64_t>>(&value)) return vectorTensor(DataType::kInt64, *i, false);
  }
  return invalidModel("attribute '" + name + "' has the wrong type");
}

Status importConstantNode(NodeImport&) {
  return internalError("Constant nodes are turned into constants before node import");
}

}  // namespace kiln::onnx

#include "onnx/attribute_proto.h"

#include "onnx/tensor_proto.h"

namespace kiln::onnx {
namespace {

using Type = ::onnx::AttributeProto_AttributeType;

// Old exporters leave `type` unset; ONNX then means "the one field that is set".
Type effectiveType(const ::onnx::AttributeProto& a) {
  if (a.type() != ::onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return ::onnx::AttributeProto::FLOAT;
  if (a.has_i()) return ::onnx::AttributeProto::INT;
  if (a.has_s()) return ::onnx::AttributeProto::STRING;
  if (a.has_t()) return ::onnx::AttributeProto::TENSOR;
  if (a.has_g()) return ::onnx::AttributeProto::GRAPH;
  if (a.has_sparse_tensor()) return ::onnx::AttributeProto::SPARSE_TENSOR;
  if (a.floats_size()) return ::onnx::AttributeProto::FLOATS;
  if (a.ints_size()) return ::onnx::AttributeProto::INTS;
  if (a.strings_size()) return ::onnx::AttributeProto::STRINGS;
  if (a.tensors_size()) return ::onnx::AttributeProto::TENSORS;
  if (a.graphs_size()) return ::onnx::AttributeProto::GRAPHS;
  return ::onnx::AttributeProto::UNDEFINED;
}

}  // namespace

Expected<ir::AttributeValue> convertAttribute(const ::onnx::AttributeProto& a, const std::string& baseDir) {
  const std::string what = "attribute '" + a.name() + "'";
  if (!a.ref_attr_name().empty())
    return invalidModel(what + " refers to a function attribute ('" + a.ref_attr_name() + "') outside a function");
  switch (effectiveType(a)) {
    case ::onnx::AttributeProto::FLOAT: return ir::AttributeValue(a.f());
    case ::onnx::AttributeProto::INT: return ir::AttributeValue(static_cast<int64_t>(a.i()));
    case ::onnx::AttributeProto::STRING: return ir::AttributeValue(std::string(a.s()));
    case ::onnx::AttributeProto::FLOATS:
      return ir::AttributeValue(std::vector<float>(a.floats().begin(), a.floats().end()));
    case ::onnx::AttributeProto::INTS:
      return ir::AttributeValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case ::onnx::AttributeProto::STRINGS:
      return ir::AttributeValue(std::vector<std::string>(a.strings().begin(), a.strings().end()));
    case ::onnx::AttributeProto::TENSOR: {
      KILN_ASSIGN_OR_RETURN(Tensor t, tensorFromProto(a.t(), baseDir, what));
      return ir::AttributeValue(std::move(t));
    }
    case ::onnx::AttributeProto::GRAPH:
    case ::onnx::AttributeProto::GRAPHS:
      return unsupported(what + " holds a subgraph; kiln imports subgraphs only as If's then_branch and "
                                "else_branch (Loop and Scan are not supported)");
    case ::onnx::AttributeProto::SPARSE_TENSOR:
    case ::onnx::AttributeProto::SPARSE_TENSORS:
      return unsupported(what + " holds a sparse tensor, which is not supported");
    case ::onnx::AttributeProto::TENSORS:
    case ::onnx::AttributeProto::TYPE_PROTO:
    case ::onnx::AttributeProto::TYPE_PROTOS:
      return unsupported(what + " is of type " + std::to_string(static_cast<int>(a.type())) +
                         " (tensor lists and type protos are not supported)");
    case ::onnx::AttributeProto::UNDEFINED: break;
  }
  return invalidModel(what + " has no type and no value");
}

Expected<ir::Attributes> convertAttributes(const ::onnx::NodeProto& node, const std::string& baseDir) {
  ir::Attributes attrs;
  for (const auto& a : node.attribute()) {
    if (a.name().empty()) return invalidModel("an attribute has no name");
    if (attrs.has(a.name())) return invalidModel("attribute '" + a.name() + "' appears twice");
    KILN_ASSIGN_OR_RETURN(ir::AttributeValue value, convertAttribute(a, baseDir));
    attrs.set(a.name(), std::move(value));
  }
  return attrs;
}

}  // namespace kiln::onnx

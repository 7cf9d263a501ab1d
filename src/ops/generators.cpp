// Generators: Shape, Size, ConstantOfShape, Range — outputs made from shapes or scalars, not from elementwise data.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ops/families.h"

namespace kiln::ops {
namespace {

using ir::OpKind;

/// Upper bound on a generated element count: beyond this a model is hostile or wrong, and allocating would fail.
constexpr int64_t kMaxGeneratedElements = int64_t(1) << 40;

Status requireInputCount(const InferenceCall& call, size_t count) {
  if (call.inputs.size() != count)
    return invalidModel(call.where() + "expected " + std::to_string(count) + " input(s), found " +
                        std::to_string(call.inputs.size()));
  for (size_t i = 0; i < count; ++i)
    if (!call.inputs[i].present())
      return invalidModel(call.where() + "input " + std::to_string(i) + " is required but omitted");
  return Status::ok();
}

InferResult inferShape(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputCount(call, 1));
  KILN_RETURN_IF_ERROR(requireIntAttr(call, "start"));
  KILN_RETURN_IF_ERROR(requireIntAttr(call, "end"));
  const auto rank = static_cast<int64_t>(call.inputs[0].dims.size());
  auto clampAxis = [rank](int64_t a) { return std::clamp(a < 0 ? a + rank : a, int64_t(0), rank); };
  const int64_t start = clampAxis(call.node.attrs.getInt("start", 0));
  const int64_t end = clampAxis(call.node.attrs.getInt("end", rank));
  return std::vector<TensorInfo>{{DataType::kInt64, Dims{std::max<int64_t>(end - start, 0)}, nullptr}};
}

InferResult inferConstantOfShape(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputCount(call, 1));
  const TensorInfo& shape = call.inputs[0];
  if (shape.dtype != DataType::kInt64)
    return invalidModel(call.where() + "input 0 'input' must be int64, found " + dataTypeName(shape.dtype));
  if (shape.dims.size() != 1)
    return invalidModel(call.where() + "input 0 'input' must be 1-D, found shape " + dimsToString(shape.dims));
  if (!shape.value) return unsupported(call.where() + "input 'input' must be a constant or computed from shapes");
  DataType outType = DataType::kFloat32;
  if (call.node.attrs.has("value")) {
    const Tensor* value = call.node.attrs.getTensor("value");
    if (!value) return invalidModel(call.where() + "attribute 'value' must be a tensor");
    if (value->elementCount() != 1)
      return invalidModel(call.where() + "attribute 'value' must hold one element, found " +
                          std::to_string(value->elementCount()));
    if (dataTypeSize(value->dtype()) == 0 || value->data() == nullptr)
      return invalidModel(call.where() + "attribute 'value' has unusable dtype " + dataTypeName(value->dtype()));
    outType = value->dtype();
  }
  const int64_t rank = shape.value->elementCount();
  if (shape.value->dtype() != DataType::kInt64 || rank != (shape.dims.empty() ? 1 : shape.dims[0]))
    return internalError(call.where() + "the known value of input 'input' does not match its type/shape");
  Dims out(static_cast<size_t>(rank));
  const int64_t* p = shape.value->dataAs<int64_t>();
  for (int64_t i = 0; i < rank; ++i) {
    if (p[i] < 0)
      return invalidModel(call.where() + "input 'input' has a negative dim " + std::to_string(p[i]) +
                          " at index " + std::to_string(i));
    out[i] = p[i];
  }
  const int64_t count = elementCount(out);
  if (count < 0 || count > kMaxGeneratedElements)
    return invalidModel(call.where() + "output shape " + dimsToString(out) + " is too large");
  return std::vector<TensorInfo>{{outType, std::move(out), nullptr}};
}

InferResult inferRange(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputCount(call, 3));
  const char* names[3] = {"start", "limit", "delta"};
  const DataType t = call.inputs[0].dtype;
  if (t != DataType::kFloat32 && t != DataType::kInt64 && t != DataType::kInt32)
    return unsupported(call.where() + "Range on dtype " + dataTypeName(t) + "; kiln implements float32, int64, int32");
  for (int i = 0; i < 3; ++i) {
    const TensorInfo& in = call.inputs[i];
    if (in.dtype != t)
      return invalidModel(call.where() + "input " + std::to_string(i) + " '" + names[i] + "' has dtype " +
                          dataTypeName(in.dtype) + " but 'start' has " + dataTypeName(t));
    if (elementCount(in.dims) != 1)
      return invalidModel(call.where() + "input " + std::to_string(i) + " '" + names[i] +
                          "' must be a scalar, found shape " + dimsToString(in.dims));
    if (!in.value)
      return unsupported(call.where() + "input '" + names[i] + "' must be a constant or computed from shapes");
    if (in.value->dtype() != t || in.value->elementCount() != 1)
      return internalError(call.where() + "the known value of input '" + names[i] + "' does not match its type");
  }
  const Tensor& start = *call.inputs[0].value;
  const Tensor& limit = *call.inputs[1].value;
  const Tensor& delta = *call.inputs[2].value;
  int64_t count = 0;
  if (t == DataType::kFloat32) {
    const float s = *start.dataAs<float>(), l = *limit.dataAs<float>(), d = *delta.dataAs<float>();
    if (!std::isfinite(s) || !std::isfinite(l) || !std::isfinite(d))
      return invalidModel(call.where() + "start, limit and delta must be finite");
    if (d == 0.0f) return invalidModel(call.where() + "input 'delta' must not be zero");
    // As onnxruntime: the difference in float, the division in double.
    const double n = std::ceil(static_cast<double>(l - s) / static_cast<double>(d));
    if (n > static_cast<double>(kMaxGeneratedElements))
      return invalidModel(call.where() + "Range would produce " + std::to_string(n) + " elements");
    count = n > 0 ? static_cast<int64_t>(n) : 0;
  } else {
    const bool wide = t == DataType::kInt64;
    const int64_t s = wide ? *start.dataAs<int64_t>() : *start.dataAs<int32_t>();
    const int64_t l = wide ? *limit.dataAs<int64_t>() : *limit.dataAs<int32_t>();
    const int64_t d = wide ? *delta.dataAs<int64_t>() : *delta.dataAs<int32_t>();
    if (d == 0) return invalidModel(call.where() + "input 'delta' must not be zero");
    // Exact integer ceil((l - s) / d), in 128 bits so extreme int64 values cannot overflow.
    const __int128 diff = static_cast<__int128>(l) - s;
    __int128 q = diff / d;
    if (diff % d != 0 && ((diff < 0) == (d < 0))) ++q;
    if (q > kMaxGeneratedElements)
      return invalidModel(call.where() + "Range would produce more than " + std::to_string(kMaxGeneratedElements) +
                          " elements");
    count = q > 0 ? static_cast<int64_t>(q) : 0;
  }
  return std::vector<TensorInfo>{{t, Dims{count}, nullptr}};
}

/// EyeLike: a 2-D identity-like tensor of the input's shape; dtype from attribute 'dtype' or the input's.
InferResult inferEyeLike(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputCount(call, 1));
  const TensorInfo& in = call.inputs[0];
  if (in.dims.size() != 2)
    return invalidModel(call.where() + "input must be 2-D, found shape " + dimsToString(in.dims));
  DataType t = in.dtype;
  if (call.node.attrs.has("dtype")) {
    const int64_t v = call.node.attrs.getInt("dtype", 0);
    if (v < 0 || v > 1000 || !isKnownDataType(static_cast<int32_t>(v)))
      return invalidModel(call.where() + "attribute 'dtype' is not a known data type: " + std::to_string(v));
    t = static_cast<DataType>(v);
  }
  switch (t) {
    case DataType::kFloat32: case DataType::kFloat64: case DataType::kInt64: case DataType::kInt32:
    case DataType::kInt16: case DataType::kInt8: case DataType::kUInt64: case DataType::kUInt32:
    case DataType::kUInt16: case DataType::kUInt8: case DataType::kBool:
      break;
    default: return unsupported(call.where() + "EyeLike output dtype " + dataTypeName(t) + " is not implemented");
  }
  return std::vector<TensorInfo>{{t, in.dims, nullptr}};
}

}  // namespace

InferResult inferGenerator(const InferenceCall& call) {
  switch (call.node.op) {
    case OpKind::kShape: return inferShape(call);
    case OpKind::kSize:
      KILN_RETURN_IF_ERROR(requireInputCount(call, 1));
      return std::vector<TensorInfo>{{DataType::kInt64, Dims{}, nullptr}};
    case OpKind::kConstantOfShape: return inferConstantOfShape(call);
    case OpKind::kRange: return inferRange(call);
    case OpKind::kEyeLike: return inferEyeLike(call);
    case OpKind::kConstant:
      return internalError(call.where() + "Constant nodes must be removed by the importer before shape inference");
    default: return internalError(call.where() + "not a generator op");
  }
}

bool generatorImplements(ir::OpKind kind) {
  switch (kind) {
    case OpKind::kShape: case OpKind::kSize: case OpKind::kConstantOfShape: case OpKind::kRange:
    case OpKind::kEyeLike:
      return true;
    default: return false;  // Constant never reaches a kernel: the importer turns it into a constant value
  }
}

}  // namespace kiln::ops

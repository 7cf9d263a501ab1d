// Shape inference of OneHot, ReverseSequence and Compress (data-movement family).
#include <string>

#include "ops/data_movement_infer.h"
#include "ops/data_movement_params.h"

namespace kiln::ops::datamove {
namespace {

bool isNumeric(DataType t) {
  return dataTypeSize(t) != 0 && t != DataType::kBool && t != DataType::kString && t != DataType::kBFloat16;
}

/// One number of a host-known scalar input of any numeric dtype, truncated to an integer.
Expected<int64_t> knownScalar(const InferenceCall& call, size_t index, const std::string& name) {
  const TensorInfo& in = call.inputs[index];
  if (!in.value) return unsupported(call.where() + "input '" + name + "' must be a constant or computed from shapes");
  if (in.value->elementCount() != 1)
    return invalidModel(call.where() + "input '" + name + "' must hold one value, found shape " + dimsToString(in.dims));
  const void* p = in.value->data();
  switch (in.value->dtype()) {
    case DataType::kFloat32: return static_cast<int64_t>(*static_cast<const float*>(p));
    case DataType::kFloat64: return static_cast<int64_t>(*static_cast<const double*>(p));
    case DataType::kInt64: return *static_cast<const int64_t*>(p);
    case DataType::kInt32: return *static_cast<const int32_t*>(p);
    case DataType::kInt16: return *static_cast<const int16_t*>(p);
    case DataType::kInt8: return *static_cast<const int8_t*>(p);
    case DataType::kUInt64: return static_cast<int64_t>(*static_cast<const uint64_t*>(p));
    case DataType::kUInt32: return *static_cast<const uint32_t*>(p);
    case DataType::kUInt16: return *static_cast<const uint16_t*>(p);
    case DataType::kUInt8: return *static_cast<const uint8_t*>(p);
    default: return unsupported(call.where() + "input '" + name + "' of dtype " + dataTypeName(in.value->dtype()));
  }
}

}  // namespace

InferResult inferOneHot(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 3));
  if (!isNumeric(call.inputs[0].dtype) || call.inputs[0].dtype == DataType::kFloat16)
    return unsupported(call.where() + "input 'indices' of dtype " + dataTypeName(call.inputs[0].dtype));
  if (!isNumeric(call.inputs[1].dtype))
    return unsupported(call.where() + "input 'depth' of dtype " + dataTypeName(call.inputs[1].dtype));
  KILN_ASSIGN_OR_RETURN(int64_t depth, knownScalar(call, 1, "depth"));
  if (depth < 1) return invalidModel(call.where() + "input 'depth' must be >= 1, found " + std::to_string(depth));
  if (elementCount(call.inputs[2].dims) != 2)
    return invalidModel(call.where() + "input 'values' must hold 2 values [off, on], found shape " +
                        dimsToString(call.inputs[2].dims));
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(call.node.attrs.getInt("axis", -1),
                                                    static_cast<int64_t>(in.size()) + 1,
                                                    call.where() + "attribute 'axis'"));
  Dims out = in;
  out.insert(out.begin() + axis, depth);
  return std::vector<TensorInfo>{{call.inputs[2].dtype, out, nullptr}};
}

InferResult inferReverseSequence(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  const Dims& in = call.inputs[0].dims;
  if (in.size() < 2) return invalidModel(call.where() + "input must have rank >= 2, found " + dimsToString(in));
  const int64_t timeAxis = call.node.attrs.getInt("time_axis", 0), batchAxis = call.node.attrs.getInt("batch_axis", 1);
  if (!((timeAxis == 0 && batchAxis == 1) || (timeAxis == 1 && batchAxis == 0)))
    return invalidModel(call.where() + "attributes time_axis/batch_axis must be 0/1 or 1/0, found " +
                        std::to_string(timeAxis) + "/" + std::to_string(batchAxis));
  if (call.inputs[1].dtype != DataType::kInt64 || call.inputs[1].dims != Dims{in[static_cast<size_t>(batchAxis)]})
    return invalidModel(call.where() + "input 'sequence_lens' must be int64 of shape [" +
                        std::to_string(in[static_cast<size_t>(batchAxis)]) + "], found " +
                        dataTypeName(call.inputs[1].dtype) + " " + dimsToString(call.inputs[1].dims));
  return std::vector<TensorInfo>{{call.inputs[0].dtype, in, nullptr}};
}

InferResult inferCompress(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  const TensorInfo& cond = call.inputs[1];
  if (cond.dtype != DataType::kBool || cond.dims.size() != 1)
    return invalidModel(call.where() + "input 'condition' must be a 1-D bool tensor, found " +
                        dataTypeName(cond.dtype) + " " + dimsToString(cond.dims));
  if (!cond.value)
    return unsupported(call.where() + "input 'condition' must be a constant: Compress's output shape depends on its "
                                      "values, and kiln's runtime needs shapes fixed at build time");
  const Dims& in = call.inputs[0].dims;
  const bool hasAxis = call.node.attrs.has("axis");
  int64_t limit = elementCount(in);
  int64_t axis = 0;
  if (hasAxis) {
    KILN_ASSIGN_OR_RETURN(axis, normalizeAxis(call.node.attrs.getInt("axis", 0), static_cast<int64_t>(in.size()),
                                              call.where() + "attribute 'axis'"));
    limit = in[static_cast<size_t>(axis)];
  }
  if (cond.dims[0] > limit)
    return invalidModel(call.where() + "input 'condition' has " + std::to_string(cond.dims[0]) +
                        " entries, more than the " + std::to_string(limit) + " selectable slices");
  const auto* c = static_cast<const uint8_t*>(cond.value->data());
  int64_t kept = 0;
  for (int64_t i = 0; i < cond.dims[0]; ++i) kept += c[i] != 0;
  Dims out = hasAxis ? in : Dims{kept};
  if (hasAxis) out[static_cast<size_t>(axis)] = kept;
  return std::vector<TensorInfo>{{call.inputs[0].dtype, out, nullptr}};
}

}  // namespace kiln::ops::datamove

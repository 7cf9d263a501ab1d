// Shape inference of the data-dependent ops: every output at the bound of its count (see data_dependent.h).
#include "ops/data_dependent.h"

#include <algorithm>
#include <string>

#include "ops/data_movement_params.h"

namespace kiln::ops {
namespace {

using ir::OpKind;

bool present(const InferenceCall& call, size_t i) { return call.inputs.size() > i && call.inputs[i].present(); }

Status requireOutputs(const InferenceCall& call, size_t minCount, size_t maxCount) {
  const size_t n = call.node.outputs.size();
  if (n < minCount || n > maxCount)
    return invalidModel(call.where() + "expected " + std::to_string(minCount) + " to " + std::to_string(maxCount) +
                        " outputs, found " + std::to_string(n));
  return Status::ok();
}

bool isSortableType(DataType t) {
  switch (t) {
    case DataType::kFloat32: case DataType::kFloat64: case DataType::kFloat16: case DataType::kBFloat16:
    case DataType::kInt8: case DataType::kUInt8: case DataType::kInt16: case DataType::kUInt16:
    case DataType::kInt32: case DataType::kUInt32: case DataType::kInt64: case DataType::kUInt64:
      return true;
    default: return false;
  }
}

// The axis of TopK, or of Unique / Compress when they have one (-1: the flattened input).
Expected<int64_t> axisOf(const InferenceCall& call, int64_t defaultAxis) {
  const int64_t rank = static_cast<int64_t>(call.inputs[0].dims.size());
  if (call.node.op != OpKind::kTopK && !call.node.attrs.has("axis")) return int64_t{-1};
  return normalizeAxis(call.node.attrs.getInt("axis", defaultAxis), rank, call.where() + "attribute 'axis'");
}

Expected<DataDependentSize> sizeOf(const InferenceCall& call) {
  const Dims& in = call.inputs[0].dims;
  const int64_t numel = elementCount(in);
  DataDependentSize s;
  switch (call.node.op) {
    case OpKind::kNonZero:
      s.bound = numel;
      s.outputAxes = {{0, 1}};
      return s;
    case OpKind::kTopK: {
      KILN_ASSIGN_OR_RETURN(int64_t axis, axisOf(call, -1));
      s.bound = in[static_cast<size_t>(axis)];
      s.outputAxes = {{0, static_cast<size_t>(axis)}, {1, static_cast<size_t>(axis)}};
      return s;
    }
    case OpKind::kCompress: {
      KILN_ASSIGN_OR_RETURN(int64_t axis, axisOf(call, 0));
      const int64_t slots = axis < 0 ? numel : in[static_cast<size_t>(axis)];
      s.bound = std::min(slots, call.inputs[1].dims.empty() ? int64_t{1} : call.inputs[1].dims[0]);
      s.outputAxes = {{0, axis < 0 ? size_t{0} : static_cast<size_t>(axis)}};
      return s;
    }
    case OpKind::kUnique: {
      KILN_ASSIGN_OR_RETURN(int64_t axis, axisOf(call, 0));
      s.bound = axis < 0 ? numel : in[static_cast<size_t>(axis)];
      s.outputAxes = {{0, axis < 0 ? size_t{0} : static_cast<size_t>(axis)}, {1, 0}, {3, 0}};
      return s;
    }
    case OpKind::kNonMaxSuppression: {
      KILN_ASSIGN_OR_RETURN(NmsShape n, nmsShape(call));
      int64_t perClass = n.boxes;
      if (present(call, 2) && call.inputs[2].value) {
        KILN_ASSIGN_OR_RETURN(auto m, readIntegers(call.inputs[2].value->dtype(), call.inputs[2].value->data(),
                                                   call.inputs[2].value->elementCount(),
                                                   call.where() + "input 'max_output_boxes_per_class'"));
        perClass = m.empty() ? 0 : std::clamp<int64_t>(m[0], 0, n.boxes);
      } else if (!present(call, 2)) {
        perClass = 0;  // omitted: no box is selected (ONNX default 0)
      }
      s.bound = n.batches * n.classes * perClass;
      s.outputAxes = {{0, 0}};
      return s;
    }
    default: return internalError(call.where() + "not a data-dependent operator");
  }
}

Expected<std::vector<TensorInfo>> inferUnique(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
  KILN_RETURN_IF_ERROR(requireOutputs(call, 1, 4));
  if (!isSortableType(call.inputs[0].dtype))
    return unsupported(call.where() + "input 'X' has dtype " + dataTypeName(call.inputs[0].dtype) +
                       ", which Unique does not implement");
  const int64_t sorted = call.node.attrs.getInt("sorted", 1);
  if (sorted != 0 && sorted != 1)
    return invalidModel(call.where() + "attribute 'sorted' must be 0 or 1, found " + std::to_string(sorted));
  KILN_ASSIGN_OR_RETURN(int64_t axis, axisOf(call, 0));
  const Dims& in = call.inputs[0].dims;
  const int64_t bound = axis < 0 ? elementCount(in) : in[static_cast<size_t>(axis)];
  Dims y = axis < 0 ? Dims{bound} : in;
  const Dims inverse{axis < 0 ? elementCount(in) : in[static_cast<size_t>(axis)]};
  std::vector<TensorInfo> out{{call.inputs[0].dtype, y, nullptr},
                              {DataType::kInt64, {bound}, nullptr},
                              {DataType::kInt64, inverse, nullptr},
                              {DataType::kInt64, {bound}, nullptr}};
  out.resize(call.node.outputs.size());
  return out;
}

Expected<std::vector<TensorInfo>> inferNms(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2, 5));
  KILN_RETURN_IF_ERROR(requireOutputs(call, 1, 1));
  const int64_t center = call.node.attrs.getInt("center_point_box", 0);
  if (center != 0 && center != 1)
    return invalidModel(call.where() + "attribute 'center_point_box' must be 0 or 1, found " + std::to_string(center));
  KILN_RETURN_IF_ERROR(nmsShape(call).status());
  if (present(call, 2) && (call.inputs[2].dtype != DataType::kInt64 || elementCount(call.inputs[2].dims) != 1))
    return invalidModel(call.where() + "input 'max_output_boxes_per_class' must be one int64, found " +
                        dataTypeName(call.inputs[2].dtype) + " " + dimsToString(call.inputs[2].dims));
  for (size_t i = 3; i < 5; ++i)
    if (present(call, i) && (call.inputs[i].dtype != DataType::kFloat32 || elementCount(call.inputs[i].dims) != 1))
      return invalidModel(call.where() + "input " + std::to_string(i) + (i == 3 ? " 'iou_threshold'" : " 'score_threshold'") +
                          " must be one float32, found " + dataTypeName(call.inputs[i].dtype) + " " +
                          dimsToString(call.inputs[i].dims));
  KILN_ASSIGN_OR_RETURN(DataDependentSize s, sizeOf(call));
  return std::vector<TensorInfo>{{DataType::kInt64, {s.bound, 3}, nullptr}};
}

}  // namespace

Expected<NmsShape> nmsShape(const InferenceCall& call) {
  const Dims& b = call.inputs[0].dims;
  const Dims& s = call.inputs[1].dims;
  if (call.inputs[0].dtype != DataType::kFloat32 || call.inputs[1].dtype != DataType::kFloat32)
    return unsupported(call.where() + "inputs 'boxes' and 'scores' must be float32, found " +
                       dataTypeName(call.inputs[0].dtype) + " and " + dataTypeName(call.inputs[1].dtype));
  if (b.size() != 3 || b[2] != 4)
    return invalidModel(call.where() + "input 'boxes' must have shape [batches, boxes, 4], found " + dimsToString(b));
  if (s.size() != 3 || s[0] != b[0] || s[2] != b[1])
    return invalidModel(call.where() + "input 'scores' must have shape [" + std::to_string(b[0]) + ", classes, " +
                        std::to_string(b[1]) + "] to match 'boxes' " + dimsToString(b) + ", found " + dimsToString(s));
  return NmsShape{b[0], s[1], b[1]};
}

bool isDataDependent(const InferenceCall& call) {
  switch (call.node.op) {
    case OpKind::kNonZero: case OpKind::kUnique: case OpKind::kNonMaxSuppression: return true;
    case OpKind::kTopK: return present(call, 1) && !call.inputs[1].value;
    case OpKind::kCompress: return present(call, 1) && !call.inputs[1].value;
    default: return false;
  }
}

bool dataDependentImplements(ir::OpKind kind) {
  return kind == OpKind::kNonZero || kind == OpKind::kUnique || kind == OpKind::kNonMaxSuppression;
}

Expected<std::optional<DataDependentSize>> dataDependentSize(const InferenceCall& call) {
  if (!isDataDependent(call) || call.inputs.empty() || !call.inputs[0].present())
    return std::optional<DataDependentSize>();
  KILN_ASSIGN_OR_RETURN(DataDependentSize s, sizeOf(call));
  // Outputs the node omits take no count.
  std::erase_if(s.outputAxes, [&](const auto& oa) { return oa.first >= call.node.outputs.size(); });
  return std::optional<DataDependentSize>(std::move(s));
}

Dims dimsAtCount(const DataDependentSize& size, size_t output, Dims dims, int64_t count) {
  for (const auto& [o, axis] : size.outputAxes)
    if (o == output && axis < dims.size()) dims[axis] = count;
  return dims;
}

Expected<std::vector<TensorInfo>> inferDataDependent(const InferenceCall& call) {
  switch (call.node.op) {
    case OpKind::kNonZero: {
      KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
      KILN_RETURN_IF_ERROR(requireOutputs(call, 1, 1));
      if (dataTypeSize(call.inputs[0].dtype) == 0)
        return unsupported(call.where() + "input 'X' has dtype " + dataTypeName(call.inputs[0].dtype) +
                           ", which NonZero does not implement");
      const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(call.inputs[0].dims.size()));
      return std::vector<TensorInfo>{{DataType::kInt64, {rank, elementCount(call.inputs[0].dims)}, nullptr}};
    }
    case OpKind::kTopK: {
      KILN_RETURN_IF_ERROR(requireInputs(call, 2, 2));
      KILN_RETURN_IF_ERROR(requireOutputs(call, 2, 2));
      const DataType t = call.inputs[0].dtype;
      if (!isSortableType(t))
        return unsupported(call.where() + "input 'X' has dtype " + dataTypeName(t) + ", which TopK does not implement");
      if (call.inputs[0].dims.empty()) return invalidModel(call.where() + "input 'X' must have rank >= 1");
      if (call.inputs[1].dtype != DataType::kInt64 || elementCount(call.inputs[1].dims) != 1)
        return invalidModel(call.where() + "input 'K' must be one int64, found " + dataTypeName(call.inputs[1].dtype) +
                            " " + dimsToString(call.inputs[1].dims));
      KILN_ASSIGN_OR_RETURN(DataDependentSize s, sizeOf(call));
      Dims out = dimsAtCount(s, 0, call.inputs[0].dims, s.bound);
      return std::vector<TensorInfo>{{t, out, nullptr}, {DataType::kInt64, out, nullptr}};
    }
    case OpKind::kCompress: {
      KILN_RETURN_IF_ERROR(requireInputs(call, 2, 2));
      const TensorInfo& cond = call.inputs[1];
      if (cond.dtype != DataType::kBool || cond.dims.size() != 1)
        return invalidModel(call.where() + "input 'condition' must be a 1-D bool tensor, found " +
                            dataTypeName(cond.dtype) + " " + dimsToString(cond.dims));
      KILN_ASSIGN_OR_RETURN(int64_t axis, axisOf(call, 0));
      const int64_t slots = axis < 0 ? elementCount(call.inputs[0].dims) : call.inputs[0].dims[static_cast<size_t>(axis)];
      if (cond.dims[0] > slots)
        return invalidModel(call.where() + "input 'condition' has " + std::to_string(cond.dims[0]) +
                            " entries, more than the " + std::to_string(slots) + " selectable slices");
      KILN_ASSIGN_OR_RETURN(DataDependentSize s, sizeOf(call));
      Dims out = axis < 0 ? Dims{s.bound} : dimsAtCount(s, 0, call.inputs[0].dims, s.bound);
      return std::vector<TensorInfo>{{call.inputs[0].dtype, out, nullptr}};
    }
    case OpKind::kUnique: return inferUnique(call);
    case OpKind::kNonMaxSuppression: return inferNms(call);
    default: return internalError(call.where() + "not a data-dependent operator");
  }
}

}  // namespace kiln::ops

// Reduction family shape inference: ReduceX (axes input, keepdims, noop_with_empty_axes), ArgMax/ArgMin, CumSum.
#include "ops/data_movement_params.h"
#include "ops/families.h"
#include "ops/reduction_axes.h"

namespace kiln::ops {

using ir::OpKind;

Expected<std::vector<bool>> reducedAxes(const ir::Node& node, int64_t rank, std::span<const int64_t> axes,
                                        bool axesGiven, const std::string& where) {
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (!axesGiven || axes.empty()) {
    const bool noop = node.attrs.getInt("noop_with_empty_axes", 0) != 0;
    if (!noop) reduced.assign(static_cast<size_t>(rank), true);
    return reduced;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalizeAxes(axes, rank, where + "'axes'"));
  for (int64_t a : norm) reduced[a] = true;
  return reduced;
}

namespace {

bool isReduceX(OpKind op) {
  switch (op) {
    case OpKind::kReduceMean: case OpKind::kReduceSum: case OpKind::kReduceMax: case OpKind::kReduceMin:
    case OpKind::kReduceProd: case OpKind::kReduceL1: case OpKind::kReduceL2: case OpKind::kReduceSumSquare:
    case OpKind::kReduceLogSumExp: case OpKind::kReduceLogSum: return true;
    default: return false;
  }
}

// Integer data is allowed where the result stays exact in the input type.
bool acceptsIntegers(OpKind op) {
  return op == OpKind::kReduceSum || op == OpKind::kReduceMax || op == OpKind::kReduceMin ||
         op == OpKind::kReduceProd || op == OpKind::kArgMax || op == OpKind::kArgMin || op == OpKind::kCumSum ||
         op == OpKind::kCumProd;
}

/// Float data of every width ONNX gives reductions (float16 and bfloat16 accumulate in float32 on both backends).
Status checkDataType(const InferenceCall& call) {
  const DataType t = call.inputs[0].dtype;
  if (t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 || t == DataType::kBFloat16)
    return Status::ok();
  if ((t == DataType::kInt64 || t == DataType::kInt32) && acceptsIntegers(call.node.op)) return Status::ok();
  return unsupported(call.where() + "input 'data' of type " + dataTypeName(t) + " is not supported");
}

InferResult inferReduce(const InferenceCall& call) {
  const Dims& in = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes;
  bool given = false;
  if (call.inputs.size() > 1 && call.inputs[1].present()) {
    const TensorInfo& a = call.inputs[1];
    if (!a.value) return unsupported(call.where() + "input 'axes' must be a constant or computed from shapes");
    KILN_ASSIGN_OR_RETURN(axes, readIntegers(a.value->dtype(), a.value->data(), a.value->elementCount(),
                                             call.where() + "input 'axes'"));
    given = true;
  } else if (call.node.attrs.has("axes")) {
    axes = call.node.attrs.getInts("axes");
    given = true;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<bool> reduced, reducedAxes(call.node, rank, axes, given, call.where()));
  const bool keep = call.node.attrs.getInt("keepdims", 1) != 0;
  Dims out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d]) out.push_back(in[d]);
    else if (keep) out.push_back(1);
  }
  return std::vector<TensorInfo>{TensorInfo{call.inputs[0].dtype, out, nullptr}};
}

InferResult inferArg(const InferenceCall& call) {
  const Dims& in = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(call.node.attrs.getInt("axis", 0), rank, call.where() + "attribute 'axis'"));
  if (in[axis] == 0)
    return invalidModel(call.where() + "cannot take the arg of an empty axis " + std::to_string(axis) +
                        " (input shape " + dimsToString(in) + ")");
  Dims out = in;
  if (call.node.attrs.getInt("keepdims", 1) != 0) out[axis] = 1;
  else out.erase(out.begin() + axis);
  return std::vector<TensorInfo>{TensorInfo{DataType::kInt64, out, nullptr}};
}

InferResult inferCumSum(const InferenceCall& call) {
  if (call.inputs.size() < 2 || !call.inputs[1].present())
    return invalidModel(call.where() + "input 'axis' is required");
  const TensorInfo& a = call.inputs[1];
  if (a.dtype != DataType::kInt64 && a.dtype != DataType::kInt32)
    return invalidModel(call.where() + "input 'axis' must be int64 or int32, found " + dataTypeName(a.dtype));
  if (elementCount(a.dims) != 1)
    return invalidModel(call.where() + "input 'axis' must hold one value, found shape " + dimsToString(a.dims));
  const int64_t rank = static_cast<int64_t>(call.inputs[0].dims.size());
  if (rank < 1) return invalidModel(call.where() + "input 'x' must have rank >= 1");
  if (a.value) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v,
                          readIntegers(a.value->dtype(), a.value->data(), 1, call.where() + "input 'axis'"));
    KILN_RETURN_IF_ERROR(normalizeAxis(v[0], rank, call.where() + "input 'axis'").status());
  }
  return std::vector<TensorInfo>{TensorInfo{call.inputs[0].dtype, call.inputs[0].dims, nullptr}};
}

}  // namespace

InferResult inferReduction(const InferenceCall& call) {
  if (call.inputs.empty() || !call.inputs[0].present())
    return invalidModel(call.where() + "input 'data' is required but missing");
  KILN_RETURN_IF_ERROR(checkDataType(call));
  if (isReduceX(call.node.op)) return inferReduce(call);
  switch (call.node.op) {
    case OpKind::kArgMax:
    case OpKind::kArgMin: return inferArg(call);
    case OpKind::kCumSum: case OpKind::kCumProd: return inferCumSum(call);
    default: break;
  }
  return internalError(call.where() + "not a reduction op");
}

bool reductionImplements(ir::OpKind kind) { return familyOf(kind) == OpFamily::kReduction; }

}  // namespace kiln::ops

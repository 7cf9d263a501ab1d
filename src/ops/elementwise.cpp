// Elementwise ops: validation and output dtype/shape (numpy broadcasting for the binary and variadic ones).
#include <string>

#include "ops/broadcast.h"
#include "ops/families.h"
#include "ops/fused_elementwise_program.h"

namespace kiln::ops {
namespace {

using ir::OpKind;

enum class Kind { kBinary, kVariadic, kCompare, kLogic, kUnary, kOther };

Kind kindOf(OpKind op) {
  switch (op) {
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kPow:
    case OpKind::kMod: case OpKind::kPRelu: case OpKind::kBitShift: case OpKind::kBitwiseAnd:
    case OpKind::kBitwiseOr: case OpKind::kBitwiseXor:
      return Kind::kBinary;
    case OpKind::kMax: case OpKind::kMin: case OpKind::kSum: case OpKind::kMean: return Kind::kVariadic;
    case OpKind::kEqual: case OpKind::kGreater: case OpKind::kGreaterOrEqual: case OpKind::kLess:
    case OpKind::kLessOrEqual:
      return Kind::kCompare;
    case OpKind::kAnd: case OpKind::kOr: case OpKind::kXor: return Kind::kLogic;
    case OpKind::kClip: case OpKind::kCast: case OpKind::kCastLike: case OpKind::kWhere:
    case OpKind::kFusedElementwise:
      return Kind::kOther;
    default: return Kind::kUnary;
  }
}

bool isIntegerIndex(DataType t) { return t == DataType::kInt32 || t == DataType::kInt64; }

bool isInteger(DataType t) {
  switch (t) {
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: case DataType::kInt64:
    case DataType::kUInt8: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64:
      return true;
    default: return false;
  }
}

/// Float types, bfloat16 included: the CPU backend computes float16/bfloat16 in float32 (staging or _Float16), CUDA
/// kernels load them into float32 registers.
bool isFloat(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

bool isNarrowFloat(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }

/// The dtypes input 0 (and the other data inputs) may have; documented in the report and tested.
bool dtypeAllowed(OpKind op, DataType t) {
  const bool f32 = t == DataType::kFloat32;
  switch (op) {
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kMod:
    case OpKind::kMax: case OpKind::kMin: case OpKind::kGreater: case OpKind::kGreaterOrEqual:
    case OpKind::kLess: case OpKind::kLessOrEqual: case OpKind::kAbs: case OpKind::kNeg: case OpKind::kSign:
    case OpKind::kPRelu:
      return isFloat(t) || isInteger(t);
    case OpKind::kSum: case OpKind::kMean: return isFloat(t);
    case OpKind::kPow:
      return isFloat(t) || isIntegerIndex(t);
    case OpKind::kEqual: return isFloat(t) || isInteger(t) || t == DataType::kBool;
    case OpKind::kBitShift: case OpKind::kBitwiseAnd: case OpKind::kBitwiseOr: case OpKind::kBitwiseXor:
    case OpKind::kBitwiseNot:
      return isInteger(t);
    case OpKind::kAnd: case OpKind::kOr: case OpKind::kXor: case OpKind::kNot: return t == DataType::kBool;
    case OpKind::kClip:
      return f32 || isNarrowFloat(t) || isIntegerIndex(t) || t == DataType::kInt8 || t == DataType::kUInt8;
    case OpKind::kIdentity: case OpKind::kWhere: return dataTypeSize(t) != 0;
    case OpKind::kRelu: case OpKind::kSigmoid: case OpKind::kTanh: case OpKind::kErf: case OpKind::kExp:
    case OpKind::kLog: case OpKind::kSqrt: case OpKind::kReciprocal: case OpKind::kFloor: case OpKind::kCeil:
    case OpKind::kSin: case OpKind::kCos:
      return isFloat(t);  // float64 too (elementwise_unary.cpp's runDoubleUnary)
    default: return f32 || isNarrowFloat(t);  // float-only ops; float16/bfloat16 run through float32 staging
  }
}

bool castTypeSupported(DataType t) {
  switch (t) {
    case DataType::kFloat32: case DataType::kFloat64: case DataType::kFloat16: case DataType::kInt64:
    case DataType::kInt32: case DataType::kInt8: case DataType::kUInt8: case DataType::kBool:
    case DataType::kInt16: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64:
    case DataType::kBFloat16:
      return true;
    default: return false;
  }
}

Status requireDtype(const InferenceCall& call, size_t index, DataType t) {
  if (!dtypeAllowed(call.node.op, t))
    return unsupported(call.where() + "input " + std::to_string(index) + " has dtype " + dataTypeName(t) +
                       ", which kiln does not implement for this op");
  return Status::ok();
}

Status requireSameDtype(const InferenceCall& call, size_t index) {
  if (call.inputs[index].dtype != call.inputs[0].dtype)
    return invalidModel(call.where() + "input " + std::to_string(index) + " has dtype " +
                        dataTypeName(call.inputs[index].dtype) + " but input 0 has " +
                        dataTypeName(call.inputs[0].dtype) + " (they must match)");
  return Status::ok();
}

/// A present attribute of another kind than expected is a malformed model, not a silent default.
template <typename T>
Status requireAttrKind(const InferenceCall& call, const char* name, const char* kindName) {
  const auto& all = call.node.attrs.all();
  auto it = all.find(name);
  if (it != all.end() && !std::holds_alternative<T>(it->second))
    return invalidModel(call.where() + "attribute '" + name + "' must be " + kindName);
  return Status::ok();
}

Status validateUnaryAttrs(const InferenceCall& call) {
  const auto& attrs = call.node.attrs;
  switch (call.node.op) {
    case OpKind::kHardSigmoid:
      KILN_RETURN_IF_ERROR(requireAttrKind<float>(call, "alpha", "a float"));
      return requireAttrKind<float>(call, "beta", "a float");
    case OpKind::kSelu:
      KILN_RETURN_IF_ERROR(requireAttrKind<float>(call, "alpha", "a float"));
      return requireAttrKind<float>(call, "gamma", "a float");
    case OpKind::kLeakyRelu: case OpKind::kElu: case OpKind::kThresholdedRelu:
      return requireAttrKind<float>(call, "alpha", "a float");
    case OpKind::kCelu:
      KILN_RETURN_IF_ERROR(requireAttrKind<float>(call, "alpha", "a float"));
      if (attrs.getFloat("alpha", 1.0f) == 0.0f) return invalidModel(call.where() + "attribute 'alpha' must be non-zero");
      return Status::ok();
    case OpKind::kIsInf:
      KILN_RETURN_IF_ERROR(requireAttrKind<int64_t>(call, "detect_negative", "an int"));
      return requireAttrKind<int64_t>(call, "detect_positive", "an int");
    case OpKind::kShrink:
      KILN_RETURN_IF_ERROR(requireAttrKind<float>(call, "lambd", "a float"));
      return requireAttrKind<float>(call, "bias", "a float");
    case OpKind::kSwish: return requireAttrKind<float>(call, "alpha", "a float");
    case OpKind::kGelu: {
      KILN_RETURN_IF_ERROR(requireAttrKind<std::string>(call, "approximate", "a string"));
      const std::string a = attrs.getString("approximate", "none");
      if (a != "none" && a != "tanh")
        return invalidModel(call.where() + "attribute 'approximate' must be \"none\" or \"tanh\", found \"" + a + "\"");
      return Status::ok();
    }
    default: return Status::ok();
  }
}

DataType unaryOutputType(OpKind op, DataType in) {
  return (op == OpKind::kIsNaN || op == OpKind::kIsInf) ? DataType::kBool : in;
}

InferResult inferBinary(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2, 2));
  const OpKind op = call.node.op;
  const TensorInfo& a = call.inputs[0];
  const TensorInfo& b = call.inputs[1];
  KILN_RETURN_IF_ERROR(requireDtype(call, 0, a.dtype));
  if (op == OpKind::kPow) {
    if (!isFloat(b.dtype) && !isInteger(b.dtype))
      return unsupported(call.where() + "input 1 (exponent) has dtype " + dataTypeName(b.dtype) +
                         "; kiln implements float and integer exponents");
  } else {
    KILN_RETURN_IF_ERROR(requireSameDtype(call, 1));
  }
  if (op == OpKind::kMod) {
    KILN_RETURN_IF_ERROR(requireAttrKind<int64_t>(call, "fmod", "an int"));
    const int64_t fmod = call.node.attrs.getInt("fmod", 0);
    if (fmod != 0 && fmod != 1)
      return invalidModel(call.where() + "attribute 'fmod' must be 0 or 1, found " + std::to_string(fmod));
  }
  if (op == OpKind::kBitShift) {
    KILN_RETURN_IF_ERROR(requireAttrKind<std::string>(call, "direction", "a string"));
    const std::string d = call.node.attrs.getString("direction", "");
    if (d != "LEFT" && d != "RIGHT")
      return invalidModel(call.where() + "attribute 'direction' must be \"LEFT\" or \"RIGHT\", found \"" + d + "\"");
  }
  KILN_ASSIGN_OR_RETURN(Dims out, broadcastShapes(a.dims, b.dims, call.where()));
  if (op == OpKind::kPRelu && out != a.dims)
    return invalidModel(call.where() + "input 1 'slope' of shape " + dimsToString(b.dims) +
                        " must broadcast to input 0's shape " + dimsToString(a.dims) + " (unidirectionally)");
  return std::vector<TensorInfo>{{a.dtype, std::move(out), nullptr}};
}

InferResult inferVariadicOrCompare(const InferenceCall& call, Kind kind) {
  const size_t maxInputs = kind == Kind::kVariadic ? call.inputs.size() : 2;
  KILN_RETURN_IF_ERROR(requireInputs(call, kind == Kind::kVariadic ? 1 : 2, std::max<size_t>(maxInputs, 1)));
  std::vector<Dims> shapes;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (!call.inputs[i].present())
      return invalidModel(call.where() + "input " + std::to_string(i) + " is omitted (all inputs are required)");
    KILN_RETURN_IF_ERROR(requireDtype(call, i, call.inputs[i].dtype));
    KILN_RETURN_IF_ERROR(requireSameDtype(call, i));
    shapes.push_back(call.inputs[i].dims);
  }
  KILN_ASSIGN_OR_RETURN(Dims out, broadcastShapes(shapes, call.where()));
  const DataType outType = kind == Kind::kVariadic ? call.inputs[0].dtype : DataType::kBool;
  return std::vector<TensorInfo>{{outType, std::move(out), nullptr}};
}

Status requireScalarBound(const InferenceCall& call, size_t index, const char* name) {
  if (call.inputs.size() <= index || !call.inputs[index].present()) return Status::ok();
  KILN_RETURN_IF_ERROR(requireSameDtype(call, index));
  if (elementCount(call.inputs[index].dims) != 1)
    return invalidModel(call.where() + "input " + std::to_string(index) + " '" + name +
                        "' must be a scalar, found shape " + dimsToString(call.inputs[index].dims));
  return Status::ok();
}

InferResult inferClip(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1, 3));
  KILN_RETURN_IF_ERROR(requireDtype(call, 0, call.inputs[0].dtype));
  KILN_RETURN_IF_ERROR(requireScalarBound(call, 1, "min"));
  KILN_RETURN_IF_ERROR(requireScalarBound(call, 2, "max"));
  return std::vector<TensorInfo>{{call.inputs[0].dtype, call.inputs[0].dims, nullptr}};
}

InferResult inferCast(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
  if (!call.node.attrs.has("to")) return invalidModel(call.where() + "attribute 'to' is required");
  KILN_RETURN_IF_ERROR(requireAttrKind<int64_t>(call, "to", "an int (a TensorProto data type)"));
  const int64_t to = call.node.attrs.getInt("to", 0);
  if (to < 0 || to > 1000 || !isKnownDataType(static_cast<int32_t>(to)))
    return invalidModel(call.where() + "attribute 'to' is not a known data type: " + std::to_string(to));
  const auto target = static_cast<DataType>(to);
  const DataType from = call.inputs[0].dtype;
  if (!castTypeSupported(from))
    return unsupported(call.where() + "cast from " + dataTypeName(from) + " is not implemented");
  if (!castTypeSupported(target))
    return unsupported(call.where() + "cast to " + dataTypeName(target) + " is not implemented");
  return std::vector<TensorInfo>{{target, call.inputs[0].dims, nullptr}};
}

/// CastLike: Cast to the dtype of input 1 'target_type' (its values are not read).
InferResult inferCastLike(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2, 2));
  const DataType from = call.inputs[0].dtype, target = call.inputs[1].dtype;
  if (!castTypeSupported(from))
    return unsupported(call.where() + "cast from " + dataTypeName(from) + " is not implemented");
  if (!castTypeSupported(target))
    return unsupported(call.where() + "cast to " + dataTypeName(target) + " is not implemented");
  return std::vector<TensorInfo>{{target, call.inputs[0].dims, nullptr}};
}

InferResult inferWhere(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 3, 3));
  if (call.inputs[0].dtype != DataType::kBool)
    return invalidModel(call.where() + "input 0 'condition' must be bool, found " +
                        dataTypeName(call.inputs[0].dtype));
  const DataType t = call.inputs[1].dtype;
  if (call.inputs[2].dtype != t)
    return invalidModel(call.where() + "inputs 1 'X' and 2 'Y' must have the same dtype, found " + dataTypeName(t) +
                        " and " + dataTypeName(call.inputs[2].dtype));
  KILN_RETURN_IF_ERROR(requireDtype(call, 1, t));
  const Dims shapes[3] = {call.inputs[0].dims, call.inputs[1].dims, call.inputs[2].dims};
  KILN_ASSIGN_OR_RETURN(Dims out, broadcastShapes(std::span<const Dims>(shapes, 3), call.where()));
  return std::vector<TensorInfo>{{t, std::move(out), nullptr}};
}

/// FusedElementwise: the program is validated in full (an engine file is untrusted); inputs share one float dtype
/// and broadcast to the output.
InferResult inferFusedElementwise(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(parseFusedProgram(call.graph, call.node).status());
  if (call.inputs.size() != call.node.inputs.size())
    return invalidModel(call.where() + "shape inference got " + std::to_string(call.inputs.size()) +
                        " inputs for a node with " + std::to_string(call.node.inputs.size()));
  const DataType t = call.inputs[0].dtype;
  if (t != DataType::kFloat32 && !isNarrowFloat(t))
    return unsupported(call.where() + "input 0 has dtype " + dataTypeName(t) +
                       "; expected float32 or float16 (or bfloat16)");
  std::vector<Dims> shapes;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (!call.inputs[i].present())
      return invalidModel(call.where() + "input " + std::to_string(i) + " is omitted (all inputs are required)");
    KILN_RETURN_IF_ERROR(requireSameDtype(call, i));
    shapes.push_back(call.inputs[i].dims);
  }
  KILN_ASSIGN_OR_RETURN(Dims out, broadcastShapes(shapes, call.where()));
  return std::vector<TensorInfo>{{t, std::move(out), nullptr}};
}

}  // namespace

InferResult inferElementwise(const InferenceCall& call) {
  const OpKind op = call.node.op;
  switch (kindOf(op)) {
    case Kind::kBinary: return inferBinary(call);
    case Kind::kVariadic: case Kind::kCompare: case Kind::kLogic: return inferVariadicOrCompare(call, kindOf(op));
    case Kind::kOther:
      if (op == OpKind::kClip) return inferClip(call);
      if (op == OpKind::kCast) return inferCast(call);
      if (op == OpKind::kCastLike) return inferCastLike(call);
      if (op == OpKind::kFusedElementwise) return inferFusedElementwise(call);
      return inferWhere(call);
    case Kind::kUnary: {
      KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
      KILN_RETURN_IF_ERROR(requireDtype(call, 0, call.inputs[0].dtype));
      KILN_RETURN_IF_ERROR(validateUnaryAttrs(call));
      return std::vector<TensorInfo>{{unaryOutputType(op, call.inputs[0].dtype), call.inputs[0].dims, nullptr}};
    }
  }
  return internalError(call.where() + "unhandled elementwise op");
}

bool elementwiseImplements(ir::OpKind kind) {
  switch (familyOf(kind)) {
    case OpFamily::kElementwise: return true;  // every op of the family has inference and a CPU kernel
    default: return false;
  }
}

}  // namespace kiln::ops

// The misc family's shape inference: selection (Hardmax, TopK), Einsum, Det, the extra normalizations (LRN,
// LpNormalization, MeanVarianceNormalization, RMSNormalization), the losses (NegativeLogLikelihoodLoss,
// SoftmaxCrossEntropyLoss), and the ops kiln refuses with a reason (NonZero, Unique: data-dependent shapes).
#include <string>

#include "ops/data_movement_params.h"
#include "ops/einsum_equation.h"
#include "ops/families.h"

namespace kiln::ops {
namespace {

using ir::OpKind;

bool present(const InferenceCall& call, size_t i) { return call.inputs.size() > i && call.inputs[i].present(); }

/// float32, float16 and bfloat16 (computed in float32 on both backends), and float64 where `allowDouble`.
Status requireFloatData(const InferenceCall& call, bool allowDouble) {
  const DataType t = call.inputs[0].dtype;
  if (t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
      (allowDouble && t == DataType::kFloat64))
    return Status::ok();
  return unsupported(call.where() + "input 0 has dtype " + dataTypeName(t) + "; kiln implements float32, float16, " +
                     "bfloat16" + (allowDouble ? " and float64" : "") + " for this op");
}

InferResult sameAsInput(const InferenceCall& call) {
  return std::vector<TensorInfo>{{call.inputs[0].dtype, call.inputs[0].dims, nullptr}};
}

Status requireRank(const InferenceCall& call, size_t i, size_t minRank) {
  if (call.inputs[i].dims.size() < minRank)
    return invalidModel(call.where() + "input " + std::to_string(i) + " must have rank >= " + std::to_string(minRank) +
                        ", found shape " + dimsToString(call.inputs[i].dims));
  return Status::ok();
}

InferResult inferAxisOp(const InferenceCall& call, int64_t defaultAxis) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
  KILN_RETURN_IF_ERROR(requireFloatData(call, true));
  KILN_RETURN_IF_ERROR(requireRank(call, 0, 1));
  KILN_RETURN_IF_ERROR(normalizeAxis(call.node.attrs.getInt("axis", defaultAxis),
                                     static_cast<int64_t>(call.inputs[0].dims.size()),
                                     call.where() + "attribute 'axis'")
                           .status());
  if (call.node.op == OpKind::kLpNormalization) {
    const int64_t p = call.node.attrs.getInt("p", 2);
    if (p != 1 && p != 2) return invalidModel(call.where() + "attribute 'p' must be 1 or 2, found " + std::to_string(p));
  }
  return sameAsInput(call);
}

InferResult inferTopK(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2, 2));
  const DataType t = call.inputs[0].dtype;
  if (dataTypeSize(t) == 0 || t == DataType::kBool)
    return unsupported(call.where() + "input 'X' has dtype " + dataTypeName(t) + ", which TopK does not implement");
  KILN_RETURN_IF_ERROR(requireRank(call, 0, 1));
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(call.node.attrs.getInt("axis", -1), static_cast<int64_t>(in.size()),
                                                    call.where() + "attribute 'axis'"));
  const TensorInfo& k = call.inputs[1];
  if (!k.value) return unsupported(call.where() + "input 'K' must be a constant or computed from shapes");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> kv, readIntegers(k.value->dtype(), k.value->data(),
                                                              k.value->elementCount(), call.where() + "input 'K'"));
  if (kv.size() != 1) return invalidModel(call.where() + "input 'K' must hold one value");
  if (kv[0] < 0 || kv[0] > in[axis])
    return invalidModel(call.where() + "input 'K' = " + std::to_string(kv[0]) + " must be in [0, " +
                        std::to_string(in[axis]) + "] (the size of axis " + std::to_string(axis) + ")");
  Dims out = in;
  out[axis] = kv[0];
  return std::vector<TensorInfo>{{t, out, nullptr}, {DataType::kInt64, out, nullptr}};
}

InferResult inferEinsum(const InferenceCall& call) {
  if (call.inputs.empty()) return invalidModel(call.where() + "Einsum needs at least one input");
  std::vector<Dims> shapes;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (!call.inputs[i].present()) return invalidModel(call.where() + "input " + std::to_string(i) + " is omitted");
    if (call.inputs[i].dtype != call.inputs[0].dtype)
      return invalidModel(call.where() + "input " + std::to_string(i) + " has dtype " +
                          dataTypeName(call.inputs[i].dtype) + " but input 0 has " + dataTypeName(call.inputs[0].dtype));
    shapes.push_back(call.inputs[i].dims);
  }
  KILN_RETURN_IF_ERROR(requireFloatData(call, true));
  KILN_ASSIGN_OR_RETURN(EinsumPlan plan,
                        planEinsum(call.node.attrs.getString("equation", ""), shapes, call.where()));
  return std::vector<TensorInfo>{{call.inputs[0].dtype, plan.outputDims, nullptr}};
}

InferResult inferDet(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
  KILN_RETURN_IF_ERROR(requireFloatData(call, true));
  KILN_RETURN_IF_ERROR(requireRank(call, 0, 2));
  const Dims& in = call.inputs[0].dims;
  if (in[in.size() - 1] != in[in.size() - 2])
    return invalidModel(call.where() + "input 'X' must hold square matrices, found shape " + dimsToString(in));
  return std::vector<TensorInfo>{{call.inputs[0].dtype, Dims(in.begin(), in.end() - 2), nullptr}};
}

InferResult inferRmsNorm(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2, 2));
  KILN_RETURN_IF_ERROR(requireFloatData(call, true));
  if (call.inputs[1].dtype != call.inputs[0].dtype)
    return invalidModel(call.where() + "input 'scale' must have X's dtype " + dataTypeName(call.inputs[0].dtype));
  const Dims& x = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(call.node.attrs.getInt("axis", -1), static_cast<int64_t>(x.size()),
                                                    call.where() + "attribute 'axis'"));
  // scale broadcasts (right-aligned) to the normalized dims X[axis:].
  const Dims& s = call.inputs[1].dims;
  const size_t normRank = x.size() - static_cast<size_t>(axis);
  if (s.size() > normRank)
    return invalidModel(call.where() + "input 'scale' of shape " + dimsToString(s) +
                        " has more dims than the normalized shape " + dimsToString(Dims(x.begin() + axis, x.end())));
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t xd = x[x.size() - s.size() + i];
    if (s[i] != 1 && s[i] != xd)
      return invalidModel(call.where() + "input 'scale' dim " + std::to_string(i) + " is " + std::to_string(s[i]) +
                          "; expected 1 or " + std::to_string(xd));
  }
  return sameAsInput(call);
}

/// NegativeLogLikelihoodLoss(input, target, weight?) and SoftmaxCrossEntropyLoss(scores, labels, weights?).
InferResult inferLoss(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2, 3));
  KILN_RETURN_IF_ERROR(requireFloatData(call, true));
  const Dims& x = call.inputs[0].dims;
  const Dims& target = call.inputs[1].dims;
  if (x.size() < 2) return invalidModel(call.where() + "input 0 must have shape (N, C, d1, ...), found " + dimsToString(x));
  if (call.inputs[1].dtype != DataType::kInt64 && call.inputs[1].dtype != DataType::kInt32)
    return invalidModel(call.where() + "input 1 (target) must be int32 or int64, found " +
                        dataTypeName(call.inputs[1].dtype));
  Dims expected{x[0]};
  expected.insert(expected.end(), x.begin() + 2, x.end());
  if (target != expected)
    return invalidModel(call.where() + "input 1 (target) must have shape " + dimsToString(expected) + ", found " +
                        dimsToString(target));
  if (present(call, 2)) {
    if (call.inputs[2].dims != Dims{x[1]} || call.inputs[2].dtype != call.inputs[0].dtype)
      return invalidModel(call.where() + "input 2 (weight) must be a " + dataTypeName(call.inputs[0].dtype) +
                          " vector of C = " + std::to_string(x[1]) + " values, found " +
                          dataTypeName(call.inputs[2].dtype) + " " + dimsToString(call.inputs[2].dims));
  }
  const std::string reduction = call.node.attrs.getString("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return invalidModel(call.where() + "attribute 'reduction' must be none, sum or mean, found '" + reduction + "'");
  std::vector<TensorInfo> out{{call.inputs[0].dtype, reduction == "none" ? expected : Dims{}, nullptr}};
  const size_t outputs = call.node.outputs.size();
  if (call.node.op == OpKind::kSoftmaxCrossEntropyLoss && outputs >= 2)
    out.push_back({call.inputs[0].dtype, x, nullptr});  // log_prob
  else if (outputs != 1)
    return invalidModel(call.where() + "expected 1 output, found " + std::to_string(outputs));
  return out;
}

}  // namespace

InferResult inferMisc(const InferenceCall& call) {
  switch (call.node.op) {
    case OpKind::kHardmax: return inferAxisOp(call, -1);
    case OpKind::kLpNormalization: return inferAxisOp(call, -1);
    case OpKind::kLRN: {
      KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
      KILN_RETURN_IF_ERROR(requireFloatData(call, true));
      KILN_RETURN_IF_ERROR(requireRank(call, 0, 3));
      const int64_t size = call.node.attrs.getInt("size", 0);
      if (size <= 0) return invalidModel(call.where() + "attribute 'size' must be a positive int, found " + std::to_string(size));
      return sameAsInput(call);
    }
    case OpKind::kMeanVarianceNormalization: {
      KILN_RETURN_IF_ERROR(requireInputs(call, 1, 1));
      KILN_RETURN_IF_ERROR(requireFloatData(call, true));
      const auto axes = call.node.attrs.getInts("axes", {0, 2, 3});
      KILN_RETURN_IF_ERROR(
          normalizeAxes(axes, static_cast<int64_t>(call.inputs[0].dims.size()), call.where() + "attribute 'axes'")
              .status());
      return sameAsInput(call);
    }
    case OpKind::kRMSNormalization: return inferRmsNorm(call);
    case OpKind::kTopK: return inferTopK(call);
    case OpKind::kEinsum: return inferEinsum(call);
    case OpKind::kDet: return inferDet(call);
    case OpKind::kNegativeLogLikelihoodLoss:
    case OpKind::kSoftmaxCrossEntropyLoss: return inferLoss(call);
    case OpKind::kNonZero:
    case OpKind::kUnique:
      return unsupported(call.where() + "the output shape depends on the input's values, which kiln's runtime does "
                                        "not support yet (shapes are fixed at build time)");
    default: return unsupported(call.where() + "operator is not implemented by kiln");
  }
}

bool miscImplements(ir::OpKind kind) {
  switch (kind) {
    case OpKind::kHardmax: case OpKind::kLpNormalization: case OpKind::kLRN: case OpKind::kMeanVarianceNormalization:
    case OpKind::kRMSNormalization: case OpKind::kTopK: case OpKind::kEinsum: case OpKind::kDet:
    case OpKind::kNegativeLogLikelihoodLoss: case OpKind::kSoftmaxCrossEntropyLoss:
      return true;
    default: return false;
  }
}

}  // namespace kiln::ops

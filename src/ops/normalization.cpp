// BatchNormalization (inference), LayerNormalization, InstanceNormalization, GroupNormalization, Softmax and
// LogSoftmax: attribute validation and output dtype/shape inference (every output has X's shape).
#include <string>
#include <variant>

#include "ops/families.h"

namespace kiln::ops {
namespace {

using ir::OpKind;

std::string inputName(const InferenceCall& call, size_t i) {
  if (i < call.node.inputs.size()) return "input " + std::to_string(i) + " '" + call.graph.valueName(call.node.inputs[i]) + "'";
  return "input " + std::to_string(i);
}

bool hasInput(const InferenceCall& call, size_t i) { return i < call.inputs.size() && call.inputs[i].present(); }

Status checkInputs(const InferenceCall& call, size_t required, size_t maximum, size_t minRank) {
  if (call.inputs.size() < required || call.inputs.size() > maximum) {
    return invalidModel(call.where() + "has " + std::to_string(call.inputs.size()) + " inputs, expected " +
                        std::to_string(required) + (required == maximum ? "" : " to " + std::to_string(maximum)));
  }
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (!call.inputs[i].present()) {
      if (i < required) return invalidModel(call.where() + inputName(call, i) + " is required");
      continue;
    }
    // Float tensors only; FP16 engines carry float16 throughout (backends decide what they run).
    const DataType t = call.inputs[i].dtype;
    if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16) {
      return unsupported(call.where() + inputName(call, i) + " has dtype " + dataTypeName(t) +
                         ", only float32, float16 and bfloat16 are supported");
    }
  }
  if (call.inputs[0].dims.size() < minRank) {
    return invalidModel(call.where() + inputName(call, 0) + " has rank " + std::to_string(call.inputs[0].dims.size()) +
                        " (" + dimsToString(call.inputs[0].dims) + "), expected at least " + std::to_string(minRank));
  }
  if (call.node.outputs.size() != 1) {
    return unsupported(call.where() + "has " + std::to_string(call.node.outputs.size()) +
                       " outputs; kiln produces only the first (Y)");
  }
  return Status::ok();
}

Status checkVector(const InferenceCall& call, size_t i, int64_t length, const std::string& what) {
  if (!hasInput(call, i)) return Status::ok();
  const Dims& d = call.inputs[i].dims;
  if (d.size() != 1 || d[0] != length) {
    return invalidModel(call.where() + inputName(call, i) + " (" + what + ") has shape " + dimsToString(d) +
                        ", expected " + std::to_string(length));
  }
  return Status::ok();
}

Status checkFloatAttr(const InferenceCall& call, const std::string& name) {
  auto it = call.node.attrs.all().find(name);
  if (it != call.node.attrs.all().end() && !std::holds_alternative<float>(it->second)) {
    return invalidModel(call.where() + "attribute '" + name + "' must be a float");
  }
  return Status::ok();
}

Expected<int64_t> normalizedAxis(const InferenceCall& call, int64_t fallback) {
  const int64_t rank = static_cast<int64_t>(call.inputs[0].dims.size());
  const int64_t axis = call.node.attrs.getInt("axis", fallback);
  if (axis < -rank || axis >= rank) {
    return invalidModel(call.where() + "attribute 'axis' is " + std::to_string(axis) + ", expected in [" +
                        std::to_string(-rank) + ", " + std::to_string(rank - 1) + "] for input shape " +
                        dimsToString(call.inputs[0].dims));
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<TensorInfo> sameAsX(const InferenceCall& call) { return {{call.inputs[0].dtype, call.inputs[0].dims}}; }

InferResult inferBatchNorm(const InferenceCall& call) {
  if (call.node.attrs.getInt("training_mode", 0) != 0) {
    return unsupported(call.where() + "training_mode = 1 is not supported (inference only)");
  }
  KILN_RETURN_IF_ERROR(checkInputs(call, 5, 5, 2));
  KILN_RETURN_IF_ERROR(checkFloatAttr(call, "epsilon"));
  const int64_t channels = call.inputs[0].dims[1];
  const char* names[] = {"scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) KILN_RETURN_IF_ERROR(checkVector(call, i, channels, names[i - 1]));
  return sameAsX(call);
}

InferResult inferLayerNorm(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkInputs(call, 2, 3, 1));
  KILN_RETURN_IF_ERROR(checkFloatAttr(call, "epsilon"));
  KILN_ASSIGN_OR_RETURN(const int64_t axis, normalizedAxis(call, -1));
  const Dims& x = call.inputs[0].dims;
  const Dims normalized(x.begin() + axis, x.end());
  for (size_t i = 1; i < 3; ++i) {
    if (!hasInput(call, i)) continue;
    const Dims& p = call.inputs[i].dims;
    bool ok = p.size() <= normalized.size();
    for (size_t j = 0; ok && j < p.size(); ++j) {
      const int64_t want = normalized[normalized.size() - p.size() + j];
      ok = p[j] == want || p[j] == 1;
    }
    if (!ok) {
      return invalidModel(call.where() + inputName(call, i) + (i == 1 ? " (Scale)" : " (B)") + " has shape " +
                          dimsToString(p) + ", which does not broadcast to the normalized shape " +
                          dimsToString(normalized) + " (axis " + std::to_string(axis) + ")");
    }
  }
  return sameAsX(call);
}

InferResult inferInstanceNorm(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkInputs(call, 3, 3, 3));
  KILN_RETURN_IF_ERROR(checkFloatAttr(call, "epsilon"));
  const int64_t channels = call.inputs[0].dims[1];
  KILN_RETURN_IF_ERROR(checkVector(call, 1, channels, "scale"));
  KILN_RETURN_IF_ERROR(checkVector(call, 2, channels, "B"));
  return sameAsX(call);
}

InferResult inferGroupNorm(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkInputs(call, 3, 3, 2));
  KILN_RETURN_IF_ERROR(checkFloatAttr(call, "epsilon"));
  if (!call.node.attrs.has("num_groups")) return invalidModel(call.where() + "attribute 'num_groups' is required");
  const int64_t groups = call.node.attrs.getInt("num_groups", 0);
  const int64_t channels = call.inputs[0].dims[1];
  if (groups < 1 || channels % groups != 0) {
    return invalidModel(call.where() + "attribute 'num_groups' is " + std::to_string(groups) +
                        ", expected a positive divisor of the channel count " + std::to_string(channels));
  }
  // Opset 21 takes scale and bias per channel; opset 18 per group. A length of C is accepted under opset 18 too
  // (it is the only meaningful reading), a length of num_groups only before opset 21.
  for (size_t i = 1; i < 3; ++i) {
    const Dims& p = call.inputs[i].dims;
    const bool perChannel = p.size() == 1 && p[0] == channels;
    const bool perGroup = p.size() == 1 && p[0] == groups && call.graph.opsetVersion < 21;
    if (!perChannel && !perGroup) {
      return invalidModel(call.where() + inputName(call, i) + (i == 1 ? " (scale)" : " (bias)") + " has shape " +
                          dimsToString(p) + ", expected " + std::to_string(channels) + " (one per channel)" +
                          (call.graph.opsetVersion < 21 ? " or " + std::to_string(groups) + " (one per group, opset 18)"
                                                        : ""));
    }
  }
  if (call.inputs[1].dims != call.inputs[2].dims) {
    return invalidModel(call.where() + "scale " + dimsToString(call.inputs[1].dims) + " and bias " +
                        dimsToString(call.inputs[2].dims) + " must have the same length");
  }
  return sameAsX(call);
}

InferResult inferSoftmax(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkInputs(call, 1, 1, 1));
  KILN_RETURN_IF_ERROR(normalizedAxis(call, -1).status());
  return sameAsX(call);
}

}  // namespace

InferResult inferNormalization(const InferenceCall& call) {
  switch (call.node.op) {
    case OpKind::kBatchNormalization: return inferBatchNorm(call);
    case OpKind::kLayerNormalization: return inferLayerNorm(call);
    case OpKind::kInstanceNormalization: return inferInstanceNorm(call);
    case OpKind::kGroupNormalization: return inferGroupNorm(call);
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax: return inferSoftmax(call);
    default: break;
  }
  return internalError(call.where() + "not a normalization op");
}

bool normalizationImplements(ir::OpKind kind) {
  switch (kind) {
    case OpKind::kBatchNormalization: case OpKind::kLayerNormalization: case OpKind::kInstanceNormalization:
    case OpKind::kGroupNormalization: case OpKind::kSoftmax: case OpKind::kLogSoftmax:
      return true;
    default: return false;
  }
}

}  // namespace kiln::ops

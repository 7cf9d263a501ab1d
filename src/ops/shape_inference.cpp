#include "ops/shape_inference.h"

#include "ops/data_dependent.h"
#include "ops/families.h"

namespace kiln::ops {

Expected<std::vector<TensorInfo>> inferOutputs(const ir::Graph& graph, const ir::Node& node,
                                               std::span<const TensorInfo> inputs) {
  const InferenceCall call{graph, node, inputs};
  if (!isImplemented(node.op)) return unsupported(call.where() + "operator is not implemented by kiln");
  if (isDataDependent(call)) return inferDataDependent(call);  // outputs at their bound (ops/data_dependent.cpp)
  switch (familyOf(node.op)) {
    case OpFamily::kElementwise: return inferElementwise(call);
    case OpFamily::kLinalg: return inferLinalg(call);
    case OpFamily::kNormalization: return inferNormalization(call);
    case OpFamily::kReduction: return inferReduction(call);
    case OpFamily::kDataMovement: return inferDataMovement(call);
    case OpFamily::kGenerator: return inferGenerator(call);
    case OpFamily::kMisc: return inferMisc(call);
    case OpFamily::kQuantization: return inferQuantization(call);
    case OpFamily::kAttention: return inferAttention(call);
  }
  return internalError(call.where() + "no family");
}

bool isImplemented(ir::OpKind kind) {
  if (dataDependentImplements(kind)) return true;
  switch (familyOf(kind)) {
    case OpFamily::kElementwise: return elementwiseImplements(kind);
    case OpFamily::kLinalg: return linalgImplements(kind);
    case OpFamily::kNormalization: return normalizationImplements(kind);
    case OpFamily::kReduction: return reductionImplements(kind);
    case OpFamily::kDataMovement: return dataMovementImplements(kind);
    case OpFamily::kGenerator: return generatorImplements(kind);
    case OpFamily::kMisc: return miscImplements(kind);
    case OpFamily::kQuantization: return quantizationImplements(kind);
    case OpFamily::kAttention: return attentionImplements(kind);
  }
  return false;
}

Status requireInputs(const InferenceCall& call, size_t minCount, size_t maxCount) {
  const size_t n = call.inputs.size();
  if (n < minCount || n > maxCount)
    return invalidModel(call.where() + "expected " +
                        (minCount == maxCount ? std::to_string(minCount)
                                              : std::to_string(minCount) + " to " + std::to_string(maxCount)) +
                        " inputs, found " + std::to_string(n));
  for (size_t i = 0; i < minCount; ++i)
    if (!call.inputs[i].present())
      return invalidModel(call.where() + "input " + std::to_string(i) + " is required but omitted");
  return Status::ok();
}

Status requireIntAttr(const InferenceCall& call, const char* name) {
  const auto& all = call.node.attrs.all();
  auto it = all.find(name);
  if (it != all.end() && !std::holds_alternative<int64_t>(it->second))
    return invalidModel(call.where() + "attribute '" + name + "' must be an int");
  return Status::ok();
}

}  // namespace kiln::ops

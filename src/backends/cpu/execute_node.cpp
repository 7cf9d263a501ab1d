#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/data_dependent.h"
#include "backends/cpu/float32_staging.h"
#include "backends/cpu/misc_kernels.h"
#include "ops/families.h"

namespace kiln::backends::cpu {
namespace {

Status runFamily(const KernelCall& call) {
  // The BLAS-backed linear algebra and the normalization kernels compute in float32 only (float16/bfloat16 tensors
  // arrive here widened by runWithFloat32Staging).
  const auto family = ops::familyOf(call.node.op);
  if (family == ops::OpFamily::kLinalg || family == ops::OpFamily::kNormalization)
    for (size_t i = 0; i < call.inputs.size(); ++i)
      if (call.inputs[i].present() && call.inputs[i].dtype != DataType::kFloat32)
        return unsupported(call.where() + "input " + std::to_string(i) + " has dtype " +
                           dataTypeName(call.inputs[i].dtype) + "; the CPU backend runs this operator in float32 only");
  switch (family) {
    case ops::OpFamily::kElementwise: return runElementwise(call);
    case ops::OpFamily::kLinalg: return runLinalg(call);
    case ops::OpFamily::kNormalization: return runNormalization(call);
    case ops::OpFamily::kReduction: return runReduction(call);
    case ops::OpFamily::kDataMovement: return runDataMovement(call);
    case ops::OpFamily::kGenerator: return runGenerator(call);
    case ops::OpFamily::kMisc: return runMisc(call);
    case ops::OpFamily::kQuantization: return runQuantization(call);
    case ops::OpFamily::kAttention: return runAttention(call);
  }
  return internalError(call.where() + "no family");
}

}  // namespace

Status executeNode(const ir::Graph& graph, const ir::Node& node, std::span<const DeviceTensor> inputs,
                   std::span<const DeviceTensor> outputs) {
  const KernelCall call{graph, node, inputs, outputs};
  if (runsDataDependent(node, outputs)) return runDataDependent(call);  // before staging: counts, not values
  if (needsFloat32Staging(node, inputs, outputs)) return runWithFloat32Staging(call, &runFamily);
  return runFamily(call);
}

}  // namespace kiln::backends::cpu

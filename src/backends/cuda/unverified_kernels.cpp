#include "backends/cuda/unverified_kernels.h"

#include <cstdlib>
#include <cstring>

#include "backends/cuda/data_dependent.h"

namespace kiln::backends::cuda {

bool unverifiedKernelsAllowed() {
  const char* v = std::getenv("KILN_UNVERIFIED_CUDA_KERNELS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

namespace {

// Session 5 (2026-12-02) wrote these with no device time left to run tests/gpu/{attention,quantization,
// data_dependent}_gpu_test.
const char* unverifiedKindName(ir::OpKind op) {
  if (op == ir::OpKind::kFusedAttention) return "the fused attention kernel";
  if (op == ir::OpKind::kQuantizeLinear || op == ir::OpKind::kDequantizeLinear)
    return "the QuantizeLinear/DequantizeLinear kernels";
  return nullptr;
}

Status refusal(const std::string& where, const char* what) {
  return unsupported(where + what + " of the CUDA backend have not been checked on a GPU yet "
                     "(KILN_UNVERIFIED_CUDA_KERNELS=1 uses them anyway; the CPU backend runs this operator)");
}

}  // namespace

Status refuseUnverifiedKind(ir::OpKind op) {
  if (unverifiedKernelsAllowed() || unverifiedKindName(op) == nullptr) return Status::ok();
  return refusal(std::string(ir::opKindName(op)) + ": ", unverifiedKindName(op));
}

Status refuseUnverifiedKernel(const ir::Graph& graph, const ir::Node& node) {
  if (unverifiedKernelsAllowed()) return Status::ok();
  if (const char* what = unverifiedKindName(node.op)) return refusal(graph.describe(node) + ": ", what);
  if (isDataDependentOnCuda(graph, node)) return refusal(graph.describe(node) + ": ", "the data-dependent output kernels");
  return Status::ok();
}

bool unverifiedTactic(std::string_view tacticPrefix) {
  // Session 5: the own depthwise conv kernels (conv_depthwise.h), tests/gpu/conv_depthwise_gpu_test not yet run.
  return !unverifiedKernelsAllowed() && tacticPrefix == "kiln-dw:";
}

}  // namespace kiln::backends::cuda

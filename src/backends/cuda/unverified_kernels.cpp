#include "backends/cuda/unverified_kernels.h"

#include <cstdlib>
#include <cstring>

namespace kiln::backends::cuda {

bool unverifiedKernelsAllowed() {
  const char* v = std::getenv("KILN_UNVERIFIED_CUDA_KERNELS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

namespace {

// Session 5 wrote its CUDA kernels with no device time left to run their tests. Session 6's GPU runs (2026-12-02)
// passed tests/gpu/{attention,data_dependent,conv_depthwise,quantization}_gpu_test, and all but attention left this
// list. Attention stays: it is correct, but whether its FP32-math kernel beats the unfused tensor-core path is not
// measured yet.
const char* unverifiedKindName(ir::OpKind op) {
  if (op == ir::OpKind::kFusedAttention) return "the fused attention kernel";
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
  return Status::ok();
}

}  // namespace kiln::backends::cuda

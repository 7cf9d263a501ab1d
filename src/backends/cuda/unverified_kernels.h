// Kernels written on a machine without a GPU and not yet run on one. Until a GPU run of their tests (tests/gpu,
// which set KILN_UNVERIFIED_CUDA_KERNELS=1) has checked them, the CUDA backend refuses them with a message that says
// so: an unchecked kernel may be wrong, and kiln never gives a silent wrong answer. The list shrinks as GPU runs pass;
// each entry names the session that wrote the kernel.
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::backends::cuda {

/// True when KILN_UNVERIFIED_CUDA_KERNELS=1: the gpu tests use the kernels below to verify them.
bool unverifiedKernelsAllowed();

/// Ok unless `node` would run on a kernel that has not been checked on a GPU yet (and they are not allowed).
Status refuseUnverifiedKernel(const ir::Graph& graph, const ir::Node& node);
/// The same for every node of a kind (Backend::supportsKind).
Status refuseUnverifiedKind(ir::OpKind op);

}  // namespace kiln::backends::cuda

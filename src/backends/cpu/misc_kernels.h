// CPU kernels of the misc family (src/ops/misc.cpp lists its ops), split by theme.
#pragma once

#include <cstdint>

#include "backends/cpu/cpu_kernels.h"

namespace kiln::backends::cpu {

Status runMisc(const KernelCall& call);            // misc.cpp: dispatch, Hardmax, TopK, Einsum, Det
Status runMiscNormalization(const KernelCall& call);  // misc_norms.cpp: LRN, LpNormalization, MVN, RMSNormalization
Status runLoss(const KernelCall& call);            // misc_losses.cpp: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss

/// The data viewed as [outer, len, inner] around one axis.
struct AxisSplit {
  int64_t outer = 1, len = 1, inner = 1;
};
inline AxisSplit splitAround(const Dims& dims, int64_t axis) {
  AxisSplit s;
  for (int64_t d = 0; d < static_cast<int64_t>(dims.size()); ++d) {
    if (d < axis) s.outer *= dims[d];
    else if (d == axis) s.len = dims[d];
    else s.inner *= dims[d];
  }
  return s;
}

}  // namespace kiln::backends::cpu

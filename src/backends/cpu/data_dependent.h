// CPU kernels of the data-dependent ops (ops/data_dependent.h): outputs written densely at the actual count, the
// count into the extra int64 output the runtime appends after the node's own.
#pragma once

#include "backends/cpu/cpu_kernels.h"

namespace kiln::backends::cpu {

/// True when this call goes to runDataDependent: NonZero, Unique, NonMaxSuppression, and TopK / Compress given a
/// count output (their K / condition was not known on the host when shapes were resolved).
bool runsDataDependent(const ir::Node& node, std::span<const DeviceTensor> outputs);
Status runDataDependent(const KernelCall& call);

}  // namespace kiln::backends::cpu

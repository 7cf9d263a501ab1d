// STUB: to be replaced by the family's owner.
#include "backends/cpu/cpu_kernels.h"

namespace kiln::backends::cpu {

Status runDataMovement(const KernelCall& call) { return unsupported(call.where() + "no CPU kernel yet"); }

}  // namespace kiln::backends::cpu

// A kernel that does nothing, launched without programmatic dependent launch: it starts only once every kernel
// before it on the stream has finished, and the kernel after it cannot start before it has.
#pragma once

#include <cuda_runtime.h>

namespace kiln::backends::cuda {

cudaError_t launchStreamFence(cudaStream_t stream);

}  // namespace kiln::backends::cuda

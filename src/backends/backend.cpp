#include "backends/backend.h"

namespace kiln::backends {

std::unique_ptr<Backend> createCpuBackend();  // cpu/cpu_backend.cpp
#if defined(KILN_WITH_CUDA)
Expected<std::unique_ptr<Backend>> createCudaBackend(const BackendOptions& options);  // cuda/cuda_backend.cpp
#endif

Expected<std::unique_ptr<Backend>> createBackend(DeviceKind kind, const BackendOptions& options) {
  switch (kind) {
    case DeviceKind::kCpu: return createCpuBackend();
    case DeviceKind::kCuda:
#if defined(KILN_WITH_CUDA)
      return createCudaBackend(options);
#else
      return unsupported("this kiln was built without the CUDA backend (configure with -DKILN_WITH_CUDA=ON)");
#endif
  }
  return invalidArgument("unknown device kind " + std::to_string(static_cast<int>(kind)));
}

}  // namespace kiln::backends

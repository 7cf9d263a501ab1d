#include "backends/cuda/cuda_check.h"

namespace kiln::backends::cuda {

Status fromCuda(cudaError_t error, const char* call, const std::string& where) {
  std::string message = where + call + " failed: " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")";
  if (error == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // not sticky: clear it so the caller can free memory and retry
    return outOfMemory(message);
  }
  return deviceError(message);
}

Status fromCudnn(cudnnStatus_t status, const char* call, const std::string& where) {
  std::string message = where + call + " failed: " + cudnnGetErrorString(status);
  if (status == CUDNN_STATUS_ALLOC_FAILED) return outOfMemory(message);
  if (status == CUDNN_STATUS_NOT_SUPPORTED) return unsupported(message);
  return deviceError(message);
}

Status fromCublas(cublasStatus_t status, const char* call, const std::string& where) {
  std::string message = where + call + " failed: cublas status " + std::to_string(static_cast<int>(status));
  if (status == CUBLAS_STATUS_ALLOC_FAILED) return outOfMemory(message);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) return unsupported(message);
  return deviceError(message);
}

Status lastLaunchStatus(const std::string& where) {
  const cudaError_t error = cudaGetLastError();
  if (error == cudaSuccess) return Status::ok();
  return fromCuda(error, "kernel launch", where);
}

}  // namespace kiln::backends::cuda

// Every CUDA, cuDNN and cuBLASLt call is checked and turned into a Status that names the call and the place.
// cudaErrorMemoryAllocation becomes kOutOfMemory (the caller may free memory and retry); the rest kDeviceError.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "kiln/status.h"

namespace kiln::backends::cuda {

Status fromCuda(cudaError_t error, const char* call, const std::string& where);
Status fromCudnn(cudnnStatus_t status, const char* call, const std::string& where);
Status fromCublas(cublasStatus_t status, const char* call, const std::string& where);

/// The error of the last kernel launch on this thread, as a Status (ok when none).
Status lastLaunchStatus(const std::string& where);

}  // namespace kiln::backends::cuda

// `where` is a std::string prefix such as "node 'conv1' (Conv): ".
#define KILN_CUDA_CHECK(call, where)                                                                  \
  do {                                                                                                \
    const cudaError_t kiln_cuda_error_ = (call);                                                      \
    if (kiln_cuda_error_ != cudaSuccess) return ::kiln::backends::cuda::fromCuda(kiln_cuda_error_, #call, where); \
  } while (0)

#define KILN_CUDNN_CHECK(call, where)                                                                    \
  do {                                                                                                   \
    const cudnnStatus_t kiln_cudnn_status_ = (call);                                                     \
    if (kiln_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                                      \
      return ::kiln::backends::cuda::fromCudnn(kiln_cudnn_status_, #call, where);                        \
  } while (0)

#define KILN_CUBLAS_CHECK(call, where)                                                                    \
  do {                                                                                                    \
    const cublasStatus_t kiln_cublas_status_ = (call);                                                    \
    if (kiln_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                     \
      return ::kiln::backends::cuda::fromCublas(kiln_cublas_status_, #call, where);                       \
  } while (0)

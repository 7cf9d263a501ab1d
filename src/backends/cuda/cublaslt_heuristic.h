// The one cuBLASLt algorithm query kiln's GEMM kernels share (matmul_cublaslt.cpp, conv1x1_cublaslt.cpp), and the
// cuBLASLt type of their data.
#pragma once

#include <cublasLt.h>

#include <optional>
#include <string>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::backends::cuda {

/// cuBLASLt's name for float32, float16 and bfloat16 (callers have checked the type is one of them).
inline cudaDataType_t cudaTypeOf(DataType t) {
  return t == DataType::kFloat16 ? CUDA_R_16F : t == DataType::kBFloat16 ? CUDA_R_16BF : CUDA_R_32F;
}

/// cuBLASLt's first heuristic choice for `desc` over layouts a, b, c, d, allowing `maxWorkspaceBytes` of workspace
/// and assuming every pointer (A, B, C, D and the epilogue's bias) is a multiple of `alignmentBytes`.
/// nullopt when cuBLASLt has no algorithm for this configuration (none found, or CUBLAS_STATUS_NOT_SUPPORTED);
/// an error naming `where` for any other failure.
Expected<std::optional<cublasLtMatmulHeuristicResult_t>> firstHeuristicAlgorithm(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
    cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, uint64_t maxWorkspaceBytes, uint32_t alignmentBytes,
    const std::string& where);

}  // namespace kiln::backends::cuda

#include "backends/cuda/cublaslt_heuristic.h"

#include "backends/cuda/cuda_check.h"

namespace kiln::backends::cuda {

Expected<std::optional<cublasLtMatmulHeuristicResult_t>> firstHeuristicAlgorithm(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
    cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, uint64_t maxWorkspaceBytes, uint32_t alignmentBytes,
    const std::string& where) {
  cublasLtMatmulPreference_t pref = nullptr;
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref), where);
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &maxWorkspaceBytes, sizeof(maxWorkspaceBytes));
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulPreferenceSetAttribute(pref, attr, &alignmentBytes, sizeof(alignmentBytes));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, d, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  using Choice = std::optional<cublasLtMatmulHeuristicResult_t>;
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found == 0)) return Choice();
  if (st != CUBLAS_STATUS_SUCCESS) return fromCublas(st, "cublasLtMatmulAlgoGetHeuristic", where);
  return Choice(result);
}

}  // namespace kiln::backends::cuda

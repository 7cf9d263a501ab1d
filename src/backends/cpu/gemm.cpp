// Gemm and MatMul on the CPU through OpenBLAS sgemm (which threads internally, so callers stay serial).
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <mutex>

#include <omp.h>

#include "backends/cpu/linalg_kernels.h"

namespace kiln::backends::cpu {
namespace {

bool fitsInt(std::initializer_list<int64_t> values) {
  return std::all_of(values.begin(), values.end(), [](int64_t v) { return v >= 0 && v <= INT_MAX; });
}

// Row-major C[m,n] = alpha * op(A) op(B) + beta * C with leading dims of the untransposed storage.
void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b,
           float beta, float* c) {
  parallelSgemm(transA, transB, m, n, k, alpha, a, transA ? m : k, b, transB ? k : n, beta, c, n);
}

}  // namespace

void useSingleThreadedBlas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

void parallelSgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  useSingleThreadedBlas();
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS rejects a zero leading dim; the product is empty, so only the beta term remains.
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    }
    return;
  }
  auto call = [&](int64_t rows, int64_t cols, const float* ap, const float* bp, float* cp) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(k), alpha, ap, static_cast<int>(lda),
                bp, static_cast<int>(ldb), beta, cp, static_cast<int>(ldc));
  };
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool worthSplitting = threads > 1 && static_cast<double>(m) * n * k >= 64.0 * 64 * 64;
  constexpr int64_t kColumnBlock = 16;  // keep pieces a multiple of the SIMD width
  if (worthSplitting && n >= 2 * kColumnBlock * threads) {
    const int64_t blocks = (n + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
      const int64_t j0 = std::min(n, blocks * t / count * kColumnBlock);
      const int64_t j1 = std::min(n, blocks * (t + 1) / count * kColumnBlock);
      if (j1 > j0) call(m, j1 - j0, a, transB ? b + j0 * ldb : b + j0, c + j0);
    }
  } else if (worthSplitting && m >= 2 * threads) {
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
      const int64_t i0 = m * t / count, i1 = m * (t + 1) / count;
      if (i1 > i0) call(i1 - i0, n, transA ? a + i0 : a + i0 * lda, b, c + i0 * ldc);
    }
  } else {
    call(m, n, a, b, c);
  }
}

Status runGemm(const KernelCall& call) {
  const DeviceTensor& a = call.inputs[0];
  const DeviceTensor& b = call.inputs[1];
  const DeviceTensor* c = call.inputs.size() > 2 && call.inputs[2].present() ? &call.inputs[2] : nullptr;
  const bool transA = call.node.attrs.getInt("transA", 0) != 0, transB = call.node.attrs.getInt("transB", 0) != 0;
  const float alpha = call.node.attrs.getFloat("alpha", 1.0f), beta = call.node.attrs.getFloat("beta", 1.0f);
  if (a.dims.size() != 2 || b.dims.size() != 2) return internalError(call.where() + "Gemm inputs must be 2-D");
  const int64_t m = transA ? a.dims[1] : a.dims[0], k = transA ? a.dims[0] : a.dims[1];
  const int64_t n = transB ? b.dims[0] : b.dims[1];
  if ((transB ? b.dims[1] : b.dims[0]) != k || call.outputs[0].dims != Dims{m, n}) {
    return internalError(call.where() + "shapes were not validated by shape inference");
  }
  if (!fitsInt({m, n, k})) return unsupported(call.where() + "dims exceed the BLAS int range");
  float* y = static_cast<float*>(call.outputs[0].data);
  const bool useC = c != nullptr && beta != 0.0f;
  if (useC) {
    // Y = beta * C broadcast to [m, n] (C is a scalar, [n], [1, n], [m, 1] or [m, n]), then sgemm adds the product.
    const Dims& cd = c->dims;
    const int64_t rows = cd.size() == 2 ? cd[0] : 1, cols = cd.empty() ? 1 : cd.back();
    const float* cp = static_cast<const float*>(c->data);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) y[i * n + j] = beta * cp[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)];
    }
  }
  sgemm(transA, transB, m, n, k, alpha, static_cast<const float*>(a.data), static_cast<const float*>(b.data),
        useC ? 1.0f : 0.0f, y);
  return Status::ok();
}

Status runMatMul(const KernelCall& call) {
  Dims a = call.inputs[0].dims, b = call.inputs[1].dims;
  if (a.empty() || b.empty()) return internalError(call.where() + "MatMul inputs must have rank >= 1");
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  if (b[b.size() - 2] != k) return internalError(call.where() + "shapes were not validated by shape inference");
  if (!fitsInt({m, n, k})) return unsupported(call.where() + "dims exceed the BLAS int range");
  // Batch dims right-aligned to a common rank; a stride of 0 repeats a broadcast operand.
  const size_t batchRank = std::max(a.size(), b.size()) - 2;
  Dims batch(batchRank), strideA(batchRank, 0), strideB(batchRank, 0);
  int64_t sa = m * k, sb = k * n, batchCount = 1;
  for (size_t i = batchRank; i-- > 0;) {
    const ptrdiff_t ia = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(batchRank - (a.size() - 2));
    const ptrdiff_t ib = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(batchRank - (b.size() - 2));
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) return internalError(call.where() + "batch dims do not broadcast");
    batch[i] = std::max(da, db);
    if (da == 0 || db == 0) batch[i] = 0;
    strideA[i] = da == 1 ? 0 : sa;
    strideB[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
    batchCount *= batch[i];
  }
  if (call.outputs[0].elementCount() != batchCount * m * n) {
    return internalError(call.where() + "output buffer has shape " + dimsToString(call.outputs[0].dims));
  }
  const float* ap = static_cast<const float*>(call.inputs[0].data);
  const float* bp = static_cast<const float*>(call.inputs[1].data);
  float* y = static_cast<float*>(call.outputs[0].data);
  if (batchCount == 0) return Status::ok();
  // B shared by every batch and A contiguous: one tall GEMM ([batch*m, k] x [k, n]) instead of many small ones.
  const bool bShared = std::all_of(strideB.begin(), strideB.end(), [](int64_t s) { return s == 0; });
  bool aFull = true;
  for (size_t i = 0; i < batchRank; ++i) aFull = aFull && (strideA[i] != 0 || batch[i] == 1);
  if (bShared && aFull && fitsInt({batchCount * m})) {
    sgemm(false, false, batchCount * m, n, k, 1.0f, ap, bp, 0.0f, y);
  } else {
    for (int64_t index = 0; index < batchCount; ++index) {
      int64_t rest = index, offA = 0, offB = 0;
      for (size_t i = batchRank; i-- > 0;) {
        const int64_t coord = rest % batch[i];
        rest /= batch[i];
        offA += coord * strideA[i];
        offB += coord * strideB[i];
      }
      sgemm(false, false, m, n, k, 1.0f, ap + offA, bp + offB, 0.0f, y + index * m * n);
    }
  }
  // kiln's fused form (fuse_gemm_epilogue.cpp): input 2 is a bias of n values added to every output row.
  if (call.inputs.size() > 2 && call.inputs[2].present()) {
    if (call.inputs[2].elementCount() != n)
      return internalError(call.where() + "bias was not validated by shape inference");
    const float* bias = static_cast<const float*>(call.inputs[2].data);
    for (int64_t row = 0; row < batchCount * m; ++row)
      for (int64_t j = 0; j < n; ++j) y[row * n + j] += bias[j];
  }
  return Status::ok();
}

}  // namespace kiln::backends::cpu

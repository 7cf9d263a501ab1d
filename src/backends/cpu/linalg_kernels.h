// The CPU linalg kernels behind runLinalg (linalg.cpp dispatches), one file per kind: conv.cpp, gemm.cpp, pool.cpp.
#pragma once

#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "ops/window_geometry.h"

namespace kiln::backends::cpu {

Status runConv(const KernelCall& call);           // conv.cpp: im2col + sgemm, 1x1 and depthwise fast paths
Status runConvTranspose(const KernelCall& call);  // conv.cpp: sgemm + col2im
Status runGemm(const KernelCall& call);           // gemm.cpp
Status runMatMul(const KernelCall& call);         // gemm.cpp
Status runPool(const KernelCall& call);           // pool.cpp: MaxPool, AveragePool
Status runGlobalPool(const KernelCall& call);     // pool.cpp: GlobalAveragePool, GlobalMaxPool

// Geometry on exactly three spatial axes (depth, height, width).
struct Window3 {
  int64_t in[3], kernel[3], stride[3], dilation[3], padBegin[3], padEnd[3], out[3];
  int64_t inSize() const { return in[0] * in[1] * in[2]; }
  int64_t outSize() const { return out[0] * out[1] * out[2]; }
  int64_t kernelSize() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// `transposed` swaps the roles: ConvTranspose's Y is the image im2col/col2im walk, its X the window grid.
inline Window3 toWindow3(const ops::WindowGeometry& g, bool transposed) {
  Window3 w{};
  const size_t lead = 3 - g.rank();
  for (size_t i = 0; i < 3; ++i) {
    const bool real = i >= lead;
    const size_t j = real ? i - lead : 0;
    w.in[i] = real ? (transposed ? g.output[j] : g.input[j]) : 1;
    w.out[i] = real ? (transposed ? g.input[j] : g.output[j]) : 1;
    w.kernel[i] = real ? g.kernel[j] : 1;
    w.stride[i] = real ? g.strides[j] : 1;
    w.dilation[i] = real ? g.dilations[j] : 1;
    w.padBegin[i] = real ? g.padsBegin[j] : 0;
    w.padEnd[i] = real ? g.padsEnd[j] : 0;
  }
  return w;
}

/// Row-major C = alpha * op(A) op(B) + beta * C with explicit leading dims, split over the OpenMP threads by
/// columns (or rows when C is narrow); each piece is a single-threaded OpenBLAS call. One thread pool (OpenMP's) does
/// all CPU work: OpenBLAS's own pthreads competing with spinning OpenMP workers made convolutions 5x slower.
void parallelSgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

/// Sets OpenBLAS to one thread (once per process): kernels call it from their own OpenMP threads.
void useSingleThreadedBlas();

/// A per-thread scratch buffer of at least `count` floats, reused across calls (contents unspecified).
float* scratchFloats(size_t count);

}  // namespace kiln::backends::cpu

// Conv and ConvTranspose on the CPU. 1-D and 2-D windows run as 3-D ones with leading size-1 axes, so one im2col,
// one col2im and one depthwise loop cover every rank. Conv = im2col + sgemm per (image, group); a 1x1 stride-1
// unpadded conv feeds X to sgemm directly; depthwise (one input channel per group) runs a direct loop because a
// per-channel GEMM would have a single row. ConvTranspose = sgemm (W^T X) + col2im, the adjoint of im2col.
#include <algorithm>
#include <climits>
#include <cstring>

#include <cblas.h>
#include <omp.h>

#include "backends/cpu/linalg_kernels.h"
#include "ops/window_geometry.h"

namespace kiln::backends::cpu {
namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// The output columns [lo, hi) along the width whose input column ow*stride + offset lies inside [0, inWidth).
void validRange(int64_t offset, int64_t stride, int64_t inWidth, int64_t outWidth, int64_t& lo, int64_t& hi) {
  lo = offset < 0 ? ceilDiv(-offset, stride) : 0;
  hi = std::clamp<int64_t>(ceilDiv(inWidth - offset, stride), 0, outWidth);
  lo = std::min(lo, hi);
}

// col[(c, kd, kh, kw), p - first] = x[c, od*s - pad + kd*d, ...] (0 in the padding) for the output positions
// p = (od, oh, ow) in [first, last), row stride ldcol: each thread builds and multiplies its own column slice.
void im2colColumns(const float* x, int64_t channels, const Window3& w, int64_t first, int64_t last, float* col,
                   int64_t ldcol) {
  const int64_t kSize = w.kernelSize(), inSize = w.inSize(), rows = channels * kSize;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / kSize, kr = r % kSize;
    const int64_t kd = kr / (w.kernel[1] * w.kernel[2]), kh = (kr / w.kernel[2]) % w.kernel[1], kw = kr % w.kernel[2];
    const float* xc = x + c * inSize;
    const int64_t offset = kw * w.dilation[2] - w.padBegin[2];
    int64_t lo, hi;
    validRange(offset, w.stride[2], w.in[2], w.out[2], lo, hi);
    float* dst = col + r * ldcol - first;
    for (int64_t p = first; p < last;) {
      const int64_t ow0 = p % w.out[2], line = p / w.out[2], oh = line % w.out[1], od = line / w.out[1];
      const int64_t ow1 = std::min(w.out[2], ow0 + (last - p));  // this grid row's part of the slice
      const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dilation[0];
      const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dilation[1];
      float* row = dst + p - ow0;
      if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) {
        std::fill(row + ow0, row + ow1, 0.0f);
      } else {
        const float* src = xc + (id * w.in[1] + ih) * w.in[2];
        const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
        std::fill(row + ow0, row + a, 0.0f);
        if (w.stride[2] == 1) {
          if (b > a) std::memcpy(row + a, src + a + offset, static_cast<size_t>(b - a) * sizeof(float));
        } else {
          for (int64_t ow = a; ow < b; ++ow) row[ow] = src[ow * w.stride[2] + offset];
        }
        std::fill(row + b, row + ow1, 0.0f);
      }
      p += ow1 - ow0;
    }
  }
}

// The adjoint of im2col: y[c, od*s - p + kd*d, ...] += col[(c, kd, kh, kw), (od, oh, ow)]. Parallel over channels
// because the kernel offsets of one channel write to overlapping places.
void col2im(const float* col, int64_t channels, const Window3& w, float* y) {
  const int64_t kSize = w.kernelSize(), outSize = w.outSize(), inSize = w.inSize();
#pragma omp parallel for schedule(static) if (channels * kSize * outSize > 16384)
  for (int64_t c = 0; c < channels; ++c) {
    float* yc = y + c * inSize;
    for (int64_t kr = 0; kr < kSize; ++kr) {
      const int64_t kd = kr / (w.kernel[1] * w.kernel[2]), kh = (kr / w.kernel[2]) % w.kernel[1], kw = kr % w.kernel[2];
      const int64_t offset = kw * w.dilation[2] - w.padBegin[2];
      int64_t lo, hi;
      validRange(offset, w.stride[2], w.in[2], w.out[2], lo, hi);
      const float* src = col + (c * kSize + kr) * outSize;
      for (int64_t od = 0; od < w.out[0]; ++od) {
        const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dilation[0];
        if (id < 0 || id >= w.in[0]) continue;
        for (int64_t oh = 0; oh < w.out[1]; ++oh) {
          const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dilation[1];
          if (ih < 0 || ih >= w.in[1]) continue;
          const float* row = src + (od * w.out[1] + oh) * w.out[2];
          float* dst = yc + (id * w.in[1] + ih) * w.in[2];
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow * w.stride[2] + offset] += row[ow];
        }
      }
    }
  }
}

// One output channel per (image, channel) pair reading one input channel: y[m] = bias + sum_k w[m,k] * x[g(m)].
void depthwiseConv(const float* x, const float* weights, const float* bias, int64_t batch, int64_t inChannels,
                   int64_t outChannels, const Window3& w, float* y) {
  const int64_t multiplier = outChannels / inChannels, inSize = w.inSize(), outSize = w.outSize();
#pragma omp parallel for schedule(static)
  for (int64_t nm = 0; nm < batch * outChannels; ++nm) {
    const int64_t n = nm / outChannels, m = nm % outChannels;
    const float* xc = x + (n * inChannels + m / multiplier) * inSize;
    const float* wm = weights + m * w.kernelSize();
    float* yc = y + nm * outSize;
    std::fill(yc, yc + outSize, bias ? bias[m] : 0.0f);
    for (int64_t od = 0; od < w.out[0]; ++od) {
      for (int64_t oh = 0; oh < w.out[1]; ++oh) {
        float* row = yc + (od * w.out[1] + oh) * w.out[2];
        for (int64_t kd = 0; kd < w.kernel[0]; ++kd) {
          const int64_t id = od * w.stride[0] - w.padBegin[0] + kd * w.dilation[0];
          if (id < 0 || id >= w.in[0]) continue;
          for (int64_t kh = 0; kh < w.kernel[1]; ++kh) {
            const int64_t ih = oh * w.stride[1] - w.padBegin[1] + kh * w.dilation[1];
            if (ih < 0 || ih >= w.in[1]) continue;
            const float* src = xc + (id * w.in[1] + ih) * w.in[2];
            for (int64_t kw = 0; kw < w.kernel[2]; ++kw) {
              const float wv = wm[(kd * w.kernel[1] + kh) * w.kernel[2] + kw];
              const int64_t offset = kw * w.dilation[2] - w.padBegin[2];
              int64_t lo, hi;
              validRange(offset, w.stride[2], w.in[2], w.out[2], lo, hi);
              if (w.stride[2] == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) row[ow] += wv * src[ow + offset];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) row[ow] += wv * src[ow * w.stride[2] + offset];
              }
            }
          }
        }
      }
    }
  }
}

// C[m, n] (leading dim ldc) = A[m, k] * B[k, n] (leading dim ldb) + beta * C, on the calling thread only.
void singleSgemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              1.0f, a, static_cast<int>(k), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void addChannelBias(float* y, const float* bias, int64_t batch, int64_t channels, int64_t size) {
#pragma omp parallel for schedule(static) if (batch * channels * size > 16384)
  for (int64_t nc = 0; nc < batch * channels; ++nc) {
    const float b = bias[nc % channels];
    float* p = y + nc * size;
    for (int64_t i = 0; i < size; ++i) p[i] += b;
  }
}

Status checkOutput(const KernelCall& call, const Dims& expected) {
  if (call.outputs[0].dims != expected) {
    return internalError(call.where() + "output buffer has shape " + dimsToString(call.outputs[0].dims) +
                         ", the kernel computes " + dimsToString(expected));
  }
  return Status::ok();
}

Status checkBlasRange(const KernelCall& call, std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) {
    if (d > INT_MAX) return unsupported(call.where() + "a GEMM dim of " + std::to_string(d) + " exceeds the BLAS int range");
  }
  return Status::ok();
}

std::span<const int64_t> spatialOf(const Dims& d) { return {d.begin() + 2, d.end()}; }

}  // namespace

Status runConv(const KernelCall& call) {
  const DeviceTensor& x = call.inputs[0];
  const DeviceTensor& w = call.inputs[1];
  const bool hasBias = call.inputs.size() > 2 && call.inputs[2].present();
  KILN_ASSIGN_OR_RETURN(auto g, ops::resolveWindow(call.where(), call.node.attrs, ops::WindowOp::kConv,
                                                   spatialOf(x.dims), spatialOf(w.dims)));
  const int64_t group = call.node.attrs.getInt("group", 1);
  const int64_t batch = x.dims[0], inChannels = x.dims[1], outChannels = w.dims[0];
  if (g.rank() > 3 || group < 1 || inChannels % group || outChannels % group || w.dims[1] * group != inChannels) {
    return internalError(call.where() + "inputs were not validated by shape inference");
  }
  Dims expected{batch, outChannels};
  expected.insert(expected.end(), g.output.begin(), g.output.end());
  KILN_RETURN_IF_ERROR(checkOutput(call, expected));
  const Window3 w3 = toWindow3(g, false);
  const float* xp = static_cast<const float*>(x.data);
  const float* wp = static_cast<const float*>(w.data);
  const float* bias = hasBias ? static_cast<const float*>(call.inputs[2].data) : nullptr;
  float* yp = static_cast<float*>(call.outputs[0].data);
  if (call.outputs[0].elementCount() == 0) return Status::ok();

  const int64_t inPerGroup = inChannels / group, outPerGroup = outChannels / group;
  if (inPerGroup == 1 && group > 1) {
    depthwiseConv(xp, wp, bias, batch, inChannels, outChannels, w3, yp);
    return Status::ok();
  }
  const int64_t inSize = w3.inSize(), outSize = w3.outSize(), colRows = inPerGroup * w3.kernelSize();
  bool pointwise = w3.kernelSize() == 1;
  for (int i = 0; i < 3; ++i) pointwise = pointwise && w3.stride[i] == 1 && w3.padBegin[i] == 0 && w3.in[i] == w3.out[i];
  KILN_RETURN_IF_ERROR(checkBlasRange(call, {outPerGroup, outSize, colRows}));
  if (pointwise) {
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t gi = 0; gi < group; ++gi) {
        parallelSgemm(false, false, outPerGroup, outSize, colRows, 1.0f, wp + gi * outPerGroup * colRows, colRows,
                      xp + (n * inChannels + gi * inPerGroup) * inSize, outSize, 0.0f,
                      yp + (n * outChannels + gi * outPerGroup) * outSize, outSize);
      }
    }
  } else {
    // One parallel region per conv: each thread builds the im2col columns of its slice of output positions in its
    // own scratch and multiplies them (single-threaded BLAS), so no barrier separates im2col from the GEMM.
    constexpr int64_t kColumnBlock = 16;
    const int64_t blocks = (outSize + kColumnBlock - 1) / kColumnBlock;
    const double work = static_cast<double>(outPerGroup) * outSize * colRows * group * batch;
#pragma omp parallel if (work > 64.0 * 64 * 64)
    {
      const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
      const int64_t first = std::min(outSize, blocks * t / count * kColumnBlock);
      const int64_t last = std::min(outSize, blocks * (t + 1) / count * kColumnBlock);
      if (last > first) {
        float* col = scratchFloats(static_cast<size_t>(colRows * (last - first)));
        for (int64_t n = 0; n < batch; ++n) {
          for (int64_t gi = 0; gi < group; ++gi) {
            im2colColumns(xp + (n * inChannels + gi * inPerGroup) * inSize, inPerGroup, w3, first, last, col,
                          last - first);
            float* y = yp + (n * outChannels + gi * outPerGroup) * outSize + first;
            if (bias) {  // the bias enters as GEMM's C term, inside this thread's slice: no extra pass or region
              for (int64_t m = 0; m < outPerGroup; ++m) std::fill(y + m * outSize, y + m * outSize + (last - first), bias[gi * outPerGroup + m]);
            }
            singleSgemm(outPerGroup, last - first, colRows, wp + gi * outPerGroup * colRows, col, last - first,
                        bias ? 1.0f : 0.0f, y, outSize);
          }
        }
      }
    }
  }
  if (bias && pointwise) addChannelBias(yp, bias, batch, outChannels, outSize);
  return Status::ok();
}

Status runConvTranspose(const KernelCall& call) {
  const DeviceTensor& x = call.inputs[0];
  const DeviceTensor& w = call.inputs[1];
  const bool hasBias = call.inputs.size() > 2 && call.inputs[2].present();
  KILN_ASSIGN_OR_RETURN(auto g, ops::resolveTransposedWindow(call.where(), call.node.attrs, spatialOf(x.dims),
                                                             spatialOf(w.dims)));
  const int64_t group = call.node.attrs.getInt("group", 1);
  const int64_t batch = x.dims[0], inChannels = x.dims[1], outPerGroup = w.dims[1];
  if (g.rank() > 3 || group < 1 || inChannels % group || w.dims[0] != inChannels) {
    return internalError(call.where() + "inputs were not validated by shape inference");
  }
  const int64_t outChannels = outPerGroup * group, inPerGroup = inChannels / group;
  Dims expected{batch, outChannels};
  expected.insert(expected.end(), g.output.begin(), g.output.end());
  KILN_RETURN_IF_ERROR(checkOutput(call, expected));
  const Window3 w3 = toWindow3(g, true);
  const float* xp = static_cast<const float*>(x.data);
  const float* wp = static_cast<const float*>(w.data);
  float* yp = static_cast<float*>(call.outputs[0].data);
  const int64_t imageSize = w3.inSize(), gridSize = w3.outSize(), colRows = outPerGroup * w3.kernelSize();
  std::fill(yp, yp + call.outputs[0].elementCount(), 0.0f);
  if (call.outputs[0].elementCount() == 0 || gridSize == 0) return Status::ok();
  KILN_RETURN_IF_ERROR(checkBlasRange(call, {colRows, gridSize, inPerGroup}));
  float* col = scratchFloats(static_cast<size_t>(colRows * gridSize));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* xg = xp + (n * inChannels + gi * inPerGroup) * gridSize;
      // col[(m, k), pos] = sum_c W[c, m, k] * X[c, pos]
      parallelSgemm(true, false, colRows, gridSize, inPerGroup, 1.0f, wp + gi * inPerGroup * colRows, colRows, xg,
                    gridSize, 0.0f, col, gridSize);
      col2im(col, outPerGroup, w3, yp + (n * outChannels + gi * outPerGroup) * imageSize);
    }
  }
  if (hasBias) addChannelBias(yp, static_cast<const float*>(call.inputs[2].data), batch, outChannels, imageSize);
  return Status::ok();
}

}  // namespace kiln::backends::cpu

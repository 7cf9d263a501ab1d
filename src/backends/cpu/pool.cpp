// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool on the CPU, parallel over (image, channel) planes.
// 1-D and 2-D windows run as 3-D ones with leading size-1 axes (see Window3).
#include <algorithm>
#include <limits>

#include "backends/cpu/linalg_kernels.h"

namespace kiln::backends::cpu {
namespace {

// The window positions [lo, hi) along one axis whose input index start + k*dilation lies inside [0, size).
void taps(int64_t start, int64_t dilation, int64_t kernel, int64_t size, int64_t& lo, int64_t& hi) {
  lo = start < 0 ? (-start + dilation - 1) / dilation : 0;
  hi = start >= size ? 0 : std::min(kernel, (size - start + dilation - 1) / dilation);
  lo = std::min(lo, hi);
}

}  // namespace

Status runPool(const KernelCall& call) {
  const DeviceTensor& x = call.inputs[0];
  const std::span<const int64_t> spatial(x.dims.begin() + 2, x.dims.end());
  KILN_ASSIGN_OR_RETURN(auto g, ops::resolveWindow(call.where(), call.node.attrs, ops::WindowOp::kPool, spatial, {}));
  Dims expected{x.dims[0], x.dims[1]};
  expected.insert(expected.end(), g.output.begin(), g.output.end());
  if (g.rank() > 3 || call.outputs[0].dims != expected) {
    return internalError(call.where() + "output buffer has shape " + dimsToString(call.outputs[0].dims) +
                         ", the kernel computes " + dimsToString(expected));
  }
  const Window3 w = toWindow3(g, false);
  const bool isMax = call.node.op == ir::OpKind::kMaxPool;
  const bool includePad = call.node.attrs.getInt("count_include_pad", 0) != 0;
  const float* xp = static_cast<const float*>(x.data);
  float* yp = static_cast<float*>(call.outputs[0].data);
  const int64_t planes = x.dims[0] * x.dims[1], inSize = w.inSize(), outSize = w.outSize();
#pragma omp parallel for schedule(static) if (planes * outSize * w.kernelSize() > 16384)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xc = xp + plane * inSize;
    float* yc = yp + plane * outSize;
    for (int64_t od = 0; od < w.out[0]; ++od) {
      const int64_t d0 = od * w.stride[0] - w.padBegin[0];
      int64_t dLo, dHi, dpLo, dpHi;
      taps(d0, w.dilation[0], w.kernel[0], w.in[0], dLo, dHi);
      taps(d0 + w.padBegin[0], w.dilation[0], w.kernel[0], w.in[0] + w.padBegin[0] + w.padEnd[0], dpLo, dpHi);
      for (int64_t oh = 0; oh < w.out[1]; ++oh) {
        const int64_t h0 = oh * w.stride[1] - w.padBegin[1];
        int64_t hLo, hHi, hpLo, hpHi;
        taps(h0, w.dilation[1], w.kernel[1], w.in[1], hLo, hHi);
        taps(h0 + w.padBegin[1], w.dilation[1], w.kernel[1], w.in[1] + w.padBegin[1] + w.padEnd[1], hpLo, hpHi);
        for (int64_t ow = 0; ow < w.out[2]; ++ow) {
          const int64_t w0 = ow * w.stride[2] - w.padBegin[2];
          int64_t wLo, wHi, wpLo, wpHi;
          taps(w0, w.dilation[2], w.kernel[2], w.in[2], wLo, wHi);
          float best = -std::numeric_limits<float>::infinity();
          double sum = 0.0;
          for (int64_t kd = dLo; kd < dHi; ++kd) {
            for (int64_t kh = hLo; kh < hHi; ++kh) {
              const float* row = xc + ((d0 + kd * w.dilation[0]) * w.in[1] + h0 + kh * w.dilation[1]) * w.in[2] + w0;
              for (int64_t kw = wLo; kw < wHi; ++kw) {
                const float v = row[kw * w.dilation[2]];
                best = std::max(best, v);
                sum += v;
              }
            }
          }
          float& out = yc[(od * w.out[1] + oh) * w.out[2] + ow];
          if (isMax) {
            out = best;
            continue;
          }
          // count_include_pad counts taps inside the padded extent (never past the end pads, as with ceil_mode).
          int64_t count;
          if (includePad) {
            taps(w0 + w.padBegin[2], w.dilation[2], w.kernel[2], w.in[2] + w.padBegin[2] + w.padEnd[2], wpLo, wpHi);
            count = (dpHi - dpLo) * (hpHi - hpLo) * (wpHi - wpLo);
          } else {
            count = (dHi - dLo) * (hHi - hLo) * (wHi - wLo);
          }
          out = count > 0 ? static_cast<float>(sum / static_cast<double>(count)) : 0.0f;
        }
      }
    }
  }
  return Status::ok();
}

Status runGlobalPool(const KernelCall& call) {
  const DeviceTensor& x = call.inputs[0];
  if (x.dims.size() < 2) return internalError(call.where() + "input must have rank >= 2");
  const int64_t planes = x.dims[0] * x.dims[1];
  const int64_t size = planes == 0 ? 0 : x.elementCount() / planes;
  if (call.outputs[0].elementCount() != planes) {
    return internalError(call.where() + "output buffer has shape " + dimsToString(call.outputs[0].dims));
  }
  const bool isMax = call.node.op == ir::OpKind::kGlobalMaxPool;
  const float* xp = static_cast<const float*>(x.data);
  float* yp = static_cast<float*>(call.outputs[0].data);
#pragma omp parallel for schedule(static) if (planes * size > 16384)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* p = xp + plane * size;
    if (isMax) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < size; ++i) best = std::max(best, p[i]);
      yp[plane] = best;
    } else {
      double sum = 0.0;
      for (int64_t i = 0; i < size; ++i) sum += p[i];
      yp[plane] = size > 0 ? static_cast<float>(sum / static_cast<double>(size)) : 0.0f;
    }
  }
  return Status::ok();
}

}  // namespace kiln::backends::cpu

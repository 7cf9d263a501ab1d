// ConvTranspose as a direct gather: each output element sums the input elements whose window covers it, so no
// col2im scatter and no atomics. Float16 and bfloat16 data accumulate in float32.
#include "backends/cuda/conv_transpose.h"
#include "backends/cuda/cuda_device.cuh"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T> __global__ void convTransposeKernel(ConvTransposeArgs a, int64_t count) {
  const T* x = static_cast<const T*>(a.x);
  const T* w = static_cast<const T*>(a.w);
  const T* bias = static_cast<const T*>(a.bias);
  T* y = static_cast<T*>(a.y);
  const int64_t outChannelsPerGroup = a.outChannels / a.groups;
  const int64_t inChannelsPerGroup = a.inChannels / a.groups;
  KILN_GRID_STRIDE(i, count) {
    int64_t rest = i, o[3] = {0, 0, 0};
    for (int d = 2; d >= 0; --d) {
      o[d] = rest % a.outSpatial[d];
      rest /= a.outSpatial[d];
    }
    const int64_t oc = rest % a.outChannels, n = rest / a.outChannels;
    const int64_t g = oc / outChannelsPerGroup, ocLocal = oc % outChannelsPerGroup;
    // Per spatial dim, the kernel taps k whose input coordinate (o + pad - k * dilation) / stride is whole and
    // inside the input.
    float sum = bias ? convert<float>(bias[oc]) : 0.f;
    for (int64_t k0 = 0; k0 < a.kernel[0]; ++k0) {
      const int64_t t0 = o[0] + a.pads[0] - k0 * a.dilations[0];
      if (t0 < 0 || t0 % a.strides[0] != 0 || t0 / a.strides[0] >= a.inSpatial[0]) continue;
      for (int64_t k1 = 0; k1 < a.kernel[1]; ++k1) {
        const int64_t t1 = o[1] + a.pads[1] - k1 * a.dilations[1];
        if (t1 < 0 || t1 % a.strides[1] != 0 || t1 / a.strides[1] >= a.inSpatial[1]) continue;
        for (int64_t k2 = 0; k2 < a.kernel[2]; ++k2) {
          const int64_t t2 = o[2] + a.pads[2] - k2 * a.dilations[2];
          if (t2 < 0 || t2 % a.strides[2] != 0 || t2 / a.strides[2] >= a.inSpatial[2]) continue;
          const int64_t inOffset = (t0 / a.strides[0] * a.inSpatial[1] + t1 / a.strides[1]) * a.inSpatial[2] + t2 / a.strides[2];
          const int64_t kOffset = (k0 * a.kernel[1] + k1) * a.kernel[2] + k2;
          for (int64_t c = 0; c < inChannelsPerGroup; ++c) {
            const int64_t ic = g * inChannelsPerGroup + c;
            sum += convert<float>(x[(n * a.inChannels + ic) * a.inSize + inOffset]) *
                   convert<float>(w[(ic * outChannelsPerGroup + ocLocal) * a.kernelSize + kOffset]);
          }
        }
      }
    }
    y[i] = convert<T>(sum);
  }
}

}  // namespace

cudaError_t launchConvTranspose(const ConvTransposeArgs& a, DataType dtype, cudaStream_t stream) {
  const int64_t count = a.batch * a.outChannels * a.outSpatial[0] * a.outSpatial[1] * a.outSpatial[2];
  if (count == 0) return cudaSuccess;
  const auto launch = [&](auto t) {
    convTransposeKernel<decltype(t)><<<gridFor(count, kThreads), kThreads, 0, stream>>>(a, count);
  };
  if (dtype == DataType::kBFloat16) launch(__nv_bfloat16{});
  else if (!dispatchFloat(dtype, launch)) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

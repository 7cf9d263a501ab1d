// Launch arguments of the conv answer check's device code (conv_reference.cu, used by conv_tactic_check.cpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/activation_in_place.h"
#include "kiln/types.h"
#include "ops/fused_elementwise_math.h"

namespace kiln::backends::cuda {

/// data[i] = scale * u(seed, i) with u uniform in [-1, 1), the same values on every run; float32, float16, bfloat16.
cudaError_t launchRandomFill(void* data, DataType dtype, int64_t count, uint64_t seed, float scale,
                             cudaStream_t stream);

/// A direct convolution (float64 sums of the stored values) with bias, residual z and activation, evaluated only at
/// the output elements sampleIndex[0..samples) and written as float32 to y[0..samples). Spatial dims are three with
/// leading 1s; channelsLast: X [N,H,W,C], W [K,R,S,C/group], Y and z [N,P,Q,K] (in[0] = out[0] = kernel[0] = 1);
/// otherwise X [N,C,D,H,W], W [K,C/group,KD,KH,KW], Y and z [N,K,...]. pad is the padding before each spatial dim.
struct ReferenceConvArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;  // may be null
  const void* z = nullptr;     // may be null
  float* y = nullptr;
  const int64_t* sampleIndex = nullptr;  // device memory
  int64_t samples = 0;
  int64_t channels = 0, outChannels = 0, group = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
  bool channelsLast = false;
  InPlaceActivation activation;  // present = false: none
};
cudaError_t launchReferenceConv(const ReferenceConvArgs& args, DataType dtype, cudaStream_t stream);

/// The reference's value at output element `index` (host and device code): `load(p, i)` gives element i of the
/// tensor at p as a double.
template <typename Load> KILN_FUSED_FN float referenceConvAt(const ReferenceConvArgs& a, int64_t index, Load load) {
  const int64_t cg = a.channels / a.group, kg = a.outChannels / a.group;
  int64_t rest = index, o[3], k = 0;
  if (a.channelsLast) {
    k = rest % a.outChannels;
    rest /= a.outChannels;
  }
  for (int d = 2; d >= 0; --d) {
    o[d] = rest % a.out[d];
    rest /= a.out[d];
  }
  if (!a.channelsLast) {
    k = rest % a.outChannels;
    rest /= a.outChannels;
  }
  const int64_t n = rest, g = k / kg;
  double sum = 0;
  for (int64_t cl = 0; cl < cg; ++cl) {
    const int64_t c = g * cg + cl;
    for (int64_t j0 = 0; j0 < a.kernel[0]; ++j0) {
      const int64_t i0 = o[0] * a.stride[0] - a.pad[0] + j0 * a.dilation[0];
      if (i0 < 0 || i0 >= a.in[0]) continue;
      for (int64_t j1 = 0; j1 < a.kernel[1]; ++j1) {
        const int64_t i1 = o[1] * a.stride[1] - a.pad[1] + j1 * a.dilation[1];
        if (i1 < 0 || i1 >= a.in[1]) continue;
        for (int64_t j2 = 0; j2 < a.kernel[2]; ++j2) {
          const int64_t i2 = o[2] * a.stride[2] - a.pad[2] + j2 * a.dilation[2];
          if (i2 < 0 || i2 >= a.in[2]) continue;
          int64_t xi, wi;
          if (a.channelsLast) {  // X [N, H, W, C], W [K, R, S, C/group] (the leading spatial dim is 1)
            xi = ((n * a.in[1] + i1) * a.in[2] + i2) * a.channels + c;
            wi = ((k * a.kernel[1] + j1) * a.kernel[2] + j2) * cg + cl;
          } else {  // X [N, C, D, H, W], W [K, C/group, KD, KH, KW]
            xi = (((n * a.channels + c) * a.in[0] + i0) * a.in[1] + i1) * a.in[2] + i2;
            wi = (((k * cg + cl) * a.kernel[0] + j0) * a.kernel[1] + j1) * a.kernel[2] + j2;
          }
          sum += load(a.x, xi) * load(a.w, wi);
        }
      }
    }
  }
  if (a.bias) sum += load(a.bias, k);
  if (a.z) sum += load(a.z, index);
  float v = static_cast<float>(sum);
  if (a.activation.present) {
    const float f = ops::fused::unary(a.activation.op, v, a.activation.params);
    v = a.activation.timesInput ? v * f : f;
  }
  return v;
}

/// out[j] = y[index[j]] as float32, for j < samples.
cudaError_t launchGatherSamples(const void* y, DataType dtype, const int64_t* index, int64_t samples, float* out,
                                cudaStream_t stream);

}  // namespace kiln::backends::cuda

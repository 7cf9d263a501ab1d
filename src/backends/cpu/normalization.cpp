// CPU normalization kernels. Statistics (mean, variance, softmax sums) accumulate in double, two-pass, so that
// large or offset inputs keep float32 accuracy; outputs are float32.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_kernels.h"

namespace kiln::backends::cpu {
namespace {

const float* floatsOf(const DeviceTensor& t) { return static_cast<const float*>(t.data); }

int64_t product(const Dims& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= d[i];
  return p;
}

int64_t axisOf(const KernelCall& call, int64_t fallback) {
  const int64_t rank = static_cast<int64_t>(call.inputs[0].dims.size());
  const int64_t axis = call.node.attrs.getInt("axis", fallback);
  return axis < 0 ? axis + rank : axis;
}

// Normalizes x[0..count) with its own mean and variance: y = (x - mean) / sqrt(var + eps), then the affine map
// y * scale[i / step] + bias[i / step] (scale/bias may be null for 1 and 0).
struct Moments {
  double mean, invStd;
};
Moments moments(const float* x, int64_t count, double epsilon) {
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += x[i];
  const double mean = count ? sum / static_cast<double>(count) : 0.0;
  double sq = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = x[i] - mean;
    sq += d * d;
  }
  const double var = count ? sq / static_cast<double>(count) : 0.0;
  return {mean, 1.0 / std::sqrt(var + epsilon)};
}

Status runBatchNorm(const KernelCall& call) {
  const Dims& d = call.inputs[0].dims;
  const int64_t batch = d[0], channels = d[1], size = product(d, 2, d.size());
  const double eps = call.node.attrs.getFloat("epsilon", 1e-5f);
  const float *scale = floatsOf(call.inputs[1]), *bias = floatsOf(call.inputs[2]);
  const float *mean = floatsOf(call.inputs[3]), *var = floatsOf(call.inputs[4]);
  std::vector<float> mul(channels), add(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const double m = scale[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    mul[c] = static_cast<float>(m);
    add[c] = static_cast<float>(bias[c] - mean[c] * m);
  }
  const float* x = floatsOf(call.inputs[0]);
  float* y = static_cast<float*>(call.outputs[0].data);
#pragma omp parallel for schedule(static) if (batch * channels * size > 16384)
  for (int64_t nc = 0; nc < batch * channels; ++nc) {
    const float a = mul[nc % channels], b = add[nc % channels];
    for (int64_t i = 0; i < size; ++i) y[nc * size + i] = x[nc * size + i] * a + b;
  }
  return Status::ok();
}

// Expands a Scale/B input, broadcast right-aligned to `shape`, into one value per normalized element.
std::vector<float> expandTo(const DeviceTensor& p, const Dims& shape, float fallback) {
  const int64_t count = product(shape, 0, shape.size());
  std::vector<float> out(count, fallback);
  if (!p.present()) return out;
  const float* v = floatsOf(p);
  const size_t lead = shape.size() - p.dims.size();
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = i, index = 0, stride = 1;
    for (size_t a = shape.size(); a-- > lead;) {
      const int64_t coord = rest % shape[a];
      rest /= shape[a];
      const int64_t pd = p.dims[a - lead];
      index += (pd == 1 ? 0 : coord) * stride;
      stride *= pd;
    }
    out[i] = v[index];
  }
  return out;
}

Status runLayerNorm(const KernelCall& call) {
  const Dims& d = call.inputs[0].dims;
  const size_t axis = static_cast<size_t>(axisOf(call, -1));
  const int64_t rows = product(d, 0, axis), cols = product(d, axis, d.size());
  const double eps = call.node.attrs.getFloat("epsilon", 1e-5f);
  const Dims normalized(d.begin() + static_cast<ptrdiff_t>(axis), d.end());
  static const DeviceTensor kAbsent{};
  const std::vector<float> scale = expandTo(call.inputs[1], normalized, 1.0f);
  const std::vector<float> bias = expandTo(call.inputs.size() > 2 ? call.inputs[2] : kAbsent, normalized, 0.0f);
  const float* x = floatsOf(call.inputs[0]);
  float* y = static_cast<float*>(call.outputs[0].data);
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; ++r) {
    const Moments m = moments(x + r * cols, cols, eps);
    for (int64_t i = 0; i < cols; ++i) {
      y[r * cols + i] = static_cast<float>((x[r * cols + i] - m.mean) * m.invStd) * scale[i] + bias[i];
    }
  }
  return Status::ok();
}

// InstanceNormalization (groups == channels) and GroupNormalization: statistics per (image, group), affine per
// channel or, with opset 18's per-group parameters, per group.
Status runGroupedNorm(const KernelCall& call, int64_t groups, double eps) {
  const Dims& d = call.inputs[0].dims;
  const int64_t batch = d[0], channels = d[1], size = product(d, 2, d.size());
  if (channels == 0 || batch == 0) return Status::ok();
  if (groups < 1 || channels % groups != 0) return internalError(call.where() + "groups do not divide channels");
  const int64_t perGroup = channels / groups;
  const float *scale = floatsOf(call.inputs[1]), *bias = floatsOf(call.inputs[2]);
  const bool perChannelParams = call.inputs[1].dims[0] == channels;
  const float* x = floatsOf(call.inputs[0]);
  float* y = static_cast<float*>(call.outputs[0].data);
#pragma omp parallel for schedule(static) if (batch * channels * size > 16384)
  for (int64_t ng = 0; ng < batch * groups; ++ng) {
    const int64_t g = ng % groups, offset = ng * perGroup * size;
    const Moments m = moments(x + offset, perGroup * size, eps);
    for (int64_t c = 0; c < perGroup; ++c) {
      const int64_t p = perChannelParams ? g * perGroup + c : g;
      const double a = m.invStd * scale[p];
      const double b = bias[p] - m.mean * a;
      const float* xc = x + offset + c * size;
      float* yc = y + offset + c * size;
      for (int64_t i = 0; i < size; ++i) yc[i] = static_cast<float>(xc[i] * a + b);
    }
  }
  return Status::ok();
}

// Softmax / LogSoftmax over one axis of a [outer, axis, inner] view, max-subtracted for stability.
Status runSoftmax(const KernelCall& call, bool logarithm) {
  const Dims& d = call.inputs[0].dims;
  const size_t axis = static_cast<size_t>(axisOf(call, -1));
  const int64_t outer = product(d, 0, axis), length = d[axis], inner = product(d, axis + 1, d.size());
  const float* x = floatsOf(call.inputs[0]);
  float* y = static_cast<float*>(call.outputs[0].data);
  if (length == 0) return Status::ok();
#pragma omp parallel for schedule(static) collapse(2) if (outer * length * inner > 16384)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* xs = x + o * length * inner + i;
      float* ys = y + o * length * inner + i;
      float peak = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < length; ++k) peak = std::max(peak, xs[k * inner]);
      double sum = 0.0;
      for (int64_t k = 0; k < length; ++k) {
        const float e = std::exp(xs[k * inner] - peak);
        if (!logarithm) ys[k * inner] = e;
        sum += e;
      }
      if (logarithm) {
        const float shift = peak + static_cast<float>(std::log(sum));
        for (int64_t k = 0; k < length; ++k) ys[k * inner] = xs[k * inner] - shift;
      } else {
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t k = 0; k < length; ++k) ys[k * inner] *= inv;
      }
    }
  }
  return Status::ok();
}

}  // namespace

Status runNormalization(const KernelCall& call) {
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (call.inputs[i].present() && call.inputs[i].dtype != DataType::kFloat32) {
      return unsupported(call.where() + "input " + std::to_string(i) + " has dtype " +
                         dataTypeName(call.inputs[i].dtype) + ", the CPU kernel takes float32 only");
    }
  }
  if (call.inputs.empty() || call.outputs.size() != 1 || call.outputs[0].dims != call.inputs[0].dims) {
    return internalError(call.where() + "expected one output shaped like X");
  }
  const double eps = call.node.attrs.getFloat("epsilon", 1e-5f);
  switch (call.node.op) {
    case ir::OpKind::kBatchNormalization: return runBatchNorm(call);
    case ir::OpKind::kLayerNormalization: return runLayerNorm(call);
    case ir::OpKind::kInstanceNormalization: return runGroupedNorm(call, call.inputs[0].dims[1], eps);
    case ir::OpKind::kGroupNormalization: return runGroupedNorm(call, call.node.attrs.getInt("num_groups", 1), eps);
    case ir::OpKind::kSoftmax: return runSoftmax(call, false);
    case ir::OpKind::kLogSoftmax: return runSoftmax(call, true);
    default: break;
  }
  return internalError(call.where() + "not a normalization op");
}

}  // namespace kiln::backends::cpu

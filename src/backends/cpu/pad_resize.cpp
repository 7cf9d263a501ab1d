// CPU kernels: Pad (constant/reflect/edge/wrap) and Resize (nearest/linear/cubic, N-D, separable).
// Both precompute, per axis, which input coordinate(s) each output coordinate reads; the inner loops then only
// gather, so no per-element division happens.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backends/cpu/data_movement_kernels.h"
#include "ops/data_movement_params.h"

namespace kiln::backends::cpu::datamove {
namespace {

constexpr int64_t kParallelElements = 1 << 15;

// Input coordinate read by output coordinate `o` along an axis of size `dim`, or -1 for the constant.
int64_t padSource(int64_t o, int64_t before, int64_t dim, const std::string& mode) {
  const int64_t i = o - before;
  if (i >= 0 && i < dim) return i;
  if (mode == "constant" || dim == 0) return -1;
  if (mode == "edge") return std::clamp<int64_t>(i, 0, dim - 1);
  if (mode == "wrap") return ((i % dim) + dim) % dim;
  if (dim == 1) return 0;  // reflect
  const int64_t period = 2 * (dim - 1);
  int64_t m = ((i % period) + period) % period;
  return m >= dim ? period - m : m;
}

}  // namespace

Status runPad(const KernelCall& call) {
  const Dims& in = call.inputs[0].dims;
  const Dims& out = call.outputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  const std::string mode = call.node.attrs.getString("mode", "constant");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> pads, inputIntegers(call, 1, "pads"));
  std::vector<int64_t> axes;
  if (hasInput(call, 3)) {
    KILN_ASSIGN_OR_RETURN(axes, inputIntegers(call, 3, "axes"));
  }
  KILN_ASSIGN_OR_RETURN(ops::PadParams p, ops::computePads(in, pads, axes, call.where()));
  if (p.outDims != out) return internalError(call.where() + "pad output shape mismatch");
  const size_t es = dataTypeSize(call.inputs[0].dtype);
  if (rank == 0) {
    std::memcpy(call.outputs[0].data, call.inputs[0].data, es);
    return Status::ok();
  }
  const int64_t total = elementCount(out);
  if (total == 0) return Status::ok();
  std::vector<std::vector<int64_t>> source(rank);
  for (int64_t d = 0; d < rank; ++d) {
    source[d].resize(out[d]);
    for (int64_t o = 0; o < out[d]; ++o) source[d][o] = padSource(o, p.before[d], in[d], mode);
  }
  const Dims inStrides = contiguousStrides(in);
  const int64_t inner = out.back();
  const int64_t rows = total / inner;
  const bool hasValue = hasInput(call, 2);
  dispatchBySize(es, [&](auto tag) {
    using T = decltype(tag);
    T fill{};
    if (hasValue) std::memcpy(&fill, call.inputs[2].data, sizeof(T));
    const T* src = static_cast<const T*>(call.inputs[0].data);
    T* dst = static_cast<T*>(call.outputs[0].data);
    const std::vector<int64_t>& last = source[rank - 1];
#pragma omp parallel for if (total >= kParallelElements)
    for (int64_t row = 0; row < rows; ++row) {
      T* d = dst + row * inner;
      int64_t offset = 0;
      bool constantRow = false;
      int64_t r = row;
      for (int64_t a = rank - 2; a >= 0; --a) {
        const int64_t s = source[a][r % out[a]];
        r /= out[a];
        if (s < 0) constantRow = true;
        offset += s * inStrides[a];
      }
      if (constantRow) {
        std::fill(d, d + inner, fill);
        continue;
      }
      const T* srow = src + offset;
      for (int64_t j = 0; j < inner; ++j) d[j] = last[j] < 0 ? fill : srow[last[j]];
    }
  });
  return Status::ok();
}

namespace {

// For one axis: each output coordinate reads `taps` input coordinates with weights; `outside` marks coordinates
// that fall outside the crop region (tf_crop_and_resize writes extrapolation_value there).
struct AxisTaps {
  int taps = 1;
  std::vector<int64_t> index;
  std::vector<float> weight;
  std::vector<uint8_t> outside;
};

float originalCoordinate(const std::string& ctm, float x, float scale, int64_t outLen, int64_t inLen, float roiStart,
                         float roiEnd) {
  const float out = static_cast<float>(outLen);
  const float len = static_cast<float>(inLen);
  if (ctm == "asymmetric") return x / scale;
  if (ctm == "align_corners") return outLen == 1 ? 0.0f : x * (len - 1) / (out - 1);
  if (ctm == "pytorch_half_pixel") return outLen > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (ctm == "tf_crop_and_resize")
    return outLen > 1 ? roiStart * (len - 1) + x * (roiEnd - roiStart) * (len - 1) / (out - 1)
                      : 0.5f * (roiStart + roiEnd) * (len - 1);
  if (ctm == "half_pixel_symmetric") {
    const float adjustment = out / (scale * len);
    const float offset = len / 2 * (1 - adjustment);
    return offset + (x + 0.5f) / scale - 0.5f;
  }
  return (x + 0.5f) / scale - 0.5f;  // half_pixel
}

int64_t nearestIndex(float x, const std::string& mode) {
  if (mode == "floor") return static_cast<int64_t>(std::floor(x));
  if (mode == "ceil") return static_cast<int64_t>(std::ceil(x));
  const float fl = std::floor(x);
  if (x - fl == 0.5f) return static_cast<int64_t>(mode == "round_prefer_ceil" ? fl + 1 : fl);
  return static_cast<int64_t>(std::round(x));
}

void cubicCoefficients(float s, float a, float c[4]) {
  c[0] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
  c[1] = ((a + 2) * s - (a + 3)) * s * s + 1;
  c[2] = ((a + 2) * (1 - s) - (a + 3)) * (1 - s) * (1 - s) + 1;
  c[3] = ((a * (2 - s) - 5 * a) * (2 - s) + 8 * a) * (2 - s) - 4 * a;
}

AxisTaps axisTaps(const ir::Node& node, int64_t inLen, int64_t outLen, float scale, float roiStart, float roiEnd) {
  const std::string mode = node.attrs.getString("mode", "nearest");
  const std::string ctm = node.attrs.getString("coordinate_transformation_mode", "half_pixel");
  const std::string nearestMode = node.attrs.getString("nearest_mode", "round_prefer_floor");
  const float cubicA = node.attrs.getFloat("cubic_coeff_a", -0.75f);
  const bool excludeOutside = node.attrs.getInt("exclude_outside", 0) != 0;
  AxisTaps t;
  t.taps = mode == "nearest" ? 1 : mode == "linear" ? 2 : 4;
  t.index.resize(outLen * t.taps);
  t.weight.resize(outLen * t.taps);
  t.outside.assign(outLen, 0);
  const float last = static_cast<float>(inLen - 1);
  for (int64_t o = 0; o < outLen; ++o) {
    float x = originalCoordinate(ctm, static_cast<float>(o), scale, outLen, inLen, roiStart, roiEnd);
    if (ctm == "tf_crop_and_resize" && (x < 0 || x > last)) t.outside[o] = 1;
    int64_t* idx = &t.index[o * t.taps];
    float* w = &t.weight[o * t.taps];
    if (mode == "nearest") {
      idx[0] = std::clamp<int64_t>(nearestIndex(x, nearestMode), 0, inLen - 1);
      w[0] = 1;
    } else if (mode == "linear") {
      x = std::clamp(x, 0.0f, last);
      const int64_t x1 = std::min<int64_t>(static_cast<int64_t>(x), inLen - 1);
      const int64_t x2 = std::min<int64_t>(x1 + 1, inLen - 1);
      idx[0] = x1;
      idx[1] = x2;
      w[0] = x1 == x2 ? 0.5f : static_cast<float>(x2) - x;
      w[1] = x1 == x2 ? 0.5f : x - static_cast<float>(x1);
    } else {
      const float fl = std::floor(x);
      const int64_t base = static_cast<int64_t>(fl);
      cubicCoefficients(x - fl, cubicA, w);
      float sum = 0;
      for (int i = 0; i < 4; ++i) {
        const int64_t j = base - 1 + i;
        if (excludeOutside && (j < 0 || j >= inLen)) w[i] = 0;
        sum += w[i];
        idx[i] = std::clamp<int64_t>(j, 0, inLen - 1);
      }
      if (excludeOutside && sum != 0)
        for (int i = 0; i < 4; ++i) w[i] /= sum;
    }
  }
  // An axis whose every output coordinate reads exactly its own input coordinate collapses to one tap, so the
  // untouched N and C axes of an NCHW resize cost nothing.
  if (t.taps > 1 && inLen == outLen) {
    bool identity = true;
    for (int64_t o = 0; o < outLen && identity; ++o) {
      float own = 0;
      for (int i = 0; i < t.taps; ++i) {
        const float w = t.weight[o * t.taps + i];
        if (t.index[o * t.taps + i] == o) own += w;
        else if (w != 0) identity = false;
      }
      identity = identity && own == 1.0f && !t.outside[o];
    }
    if (identity) {
      t.taps = 1;
      for (int64_t o = 0; o < outLen; ++o) t.index[o] = o;
      std::fill(t.weight.begin(), t.weight.begin() + outLen, 1.0f);
    }
  }
  return t;
}

}  // namespace

Status runResize(const KernelCall& call) {
  const Dims& in = call.inputs[0].dims;
  const Dims& out = call.outputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  const std::string ctm = call.node.attrs.getString("coordinate_transformation_mode", "half_pixel");
  std::vector<float> roi, scales;
  std::vector<int64_t> sizes;
  auto floats = [&](size_t i, const char* name) {
    const DeviceTensor& t = call.inputs[i];
    return ops::readFloats(t.dtype, t.data, t.elementCount(), call.where() + "input '" + name + "'");
  };
  if (ctm == "tf_crop_and_resize" && hasInput(call, 1)) {
    KILN_ASSIGN_OR_RETURN(roi, floats(1, "roi"));
  }
  if (hasInput(call, 2)) {
    KILN_ASSIGN_OR_RETURN(scales, floats(2, "scales"));
  }
  if (hasInput(call, 3)) {
    KILN_ASSIGN_OR_RETURN(sizes, inputIntegers(call, 3, "sizes"));
  }
  KILN_ASSIGN_OR_RETURN(ops::ResizeParams p, ops::computeResize(in, roi, scales, sizes, call.node, call.where()));
  if (p.outDims != out) return internalError(call.where() + "resize output shape mismatch");
  const int64_t total = elementCount(out);
  if (total == 0 || rank == 0) {
    if (total > 0) std::memcpy(call.outputs[0].data, call.inputs[0].data, dataTypeSize(call.inputs[0].dtype));
    return Status::ok();
  }
  if (elementCount(in) == 0) return invalidArgument(call.where() + "cannot resize an empty input to a non-empty output");
  std::vector<AxisTaps> axes;
  for (int64_t d = 0; d < rank; ++d)
    axes.push_back(axisTaps(call.node, in[d], out[d], p.scales[d], p.roiStart[d], p.roiEnd[d]));
  const Dims inStrides = contiguousStrides(in);
  const int64_t inner = out.back();
  const int64_t rows = total / inner;
  const AxisTaps& lastAxis = axes.back();
  const float extrapolation = call.node.attrs.getFloat("extrapolation_value", 0.0f);
  const bool isFloat = call.inputs[0].dtype == DataType::kFloat32;
  if (!isFloat && (lastAxis.taps != 1 || ctm == "tf_crop_and_resize"))
    return unsupported(call.where() + "this resize needs float32 data");

  auto body = [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(call.inputs[0].data);
    T* dst = static_cast<T*>(call.outputs[0].data);
#pragma omp parallel if (total >= kParallelElements)
    {
      // (input row offset, weight) for every tap combination of the leading axes of one output row.
      std::vector<std::pair<int64_t, float>> rowTaps, next;
#pragma omp for
      for (int64_t row = 0; row < rows; ++row) {
        T* d = dst + row * inner;
        rowTaps.assign(1, {0, 1.0f});
        bool outside = false;
        int64_t r = row;
        for (int64_t a = rank - 2; a >= 0; --a) {
          const int64_t o = r % out[a];
          r /= out[a];
          const AxisTaps& t = axes[a];
          outside = outside || t.outside[o];
          next.clear();
          for (const auto& [off, w] : rowTaps)
            for (int i = 0; i < t.taps; ++i)
              next.emplace_back(off + t.index[o * t.taps + i] * inStrides[a], w * t.weight[o * t.taps + i]);
          rowTaps.swap(next);
        }
        if constexpr (std::is_same_v<T, float>) {
          for (int64_t x = 0; x < inner; ++x) {
            if (outside || lastAxis.outside[x]) {
              d[x] = extrapolation;
              continue;
            }
            float acc = 0;
            for (const auto& [off, w] : rowTaps) {
              const T* s = src + off;
              for (int i = 0; i < lastAxis.taps; ++i)
                acc += w * lastAxis.weight[x * lastAxis.taps + i] * s[lastAxis.index[x * lastAxis.taps + i]];
            }
            d[x] = acc;
          }
        } else {  // nearest on any dtype: a pure gather
          const T* s = src + rowTaps[0].first;
          for (int64_t x = 0; x < inner; ++x) d[x] = s[lastAxis.index[x]];
        }
      }
    }
  };
  const std::string mode = call.node.attrs.getString("mode", "nearest");
  if (isFloat && mode != "nearest") {
    body(float{});
  } else if (isFloat && ctm == "tf_crop_and_resize") {
    body(float{});
  } else {
    dispatchBySize(dataTypeSize(call.inputs[0].dtype), body);
  }
  return Status::ok();
}

}  // namespace kiln::backends::cpu::datamove

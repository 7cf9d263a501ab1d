#include "ops/data_movement_params.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/half.h"

namespace kiln::ops {

Expected<std::vector<int64_t>> readIntegers(DataType dtype, const void* data, int64_t count, const std::string& what) {
  std::vector<int64_t> out(static_cast<size_t>(std::max<int64_t>(count, 0)));
  if (count > 0 && data == nullptr) return invalidModel(what + " has no data");
  if (dtype == DataType::kInt64) {
    const auto* p = static_cast<const int64_t*>(data);
    std::copy(p, p + count, out.begin());
  } else if (dtype == DataType::kInt32) {
    const auto* p = static_cast<const int32_t*>(data);
    std::copy(p, p + count, out.begin());
  } else {
    return invalidModel(what + " must be int64 or int32, found " + dataTypeName(dtype));
  }
  return out;
}

Expected<std::vector<float>> readFloats(DataType dtype, const void* data, int64_t count, const std::string& what) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(count, 0)));
  if (count > 0 && data == nullptr) return invalidModel(what + " has no data");
  if (dtype == DataType::kFloat32) {
    const auto* p = static_cast<const float*>(data);
    std::copy(p, p + count, out.begin());
  } else if (dtype == DataType::kFloat64) {
    const auto* p = static_cast<const double*>(data);
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(p[i]);
  } else if (dtype == DataType::kFloat16) {  // Resize roi may be float16 (ONNX T2)
    const auto* p = static_cast<const uint16_t*>(data);
    for (int64_t i = 0; i < count; ++i) out[i] = halfBitsToFloat(p[i]);
  } else if (dtype == DataType::kBFloat16) {
    const auto* p = static_cast<const uint16_t*>(data);
    for (int64_t i = 0; i < count; ++i) out[i] = bfloat16BitsToFloat(p[i]);
  } else {
    return invalidModel(what + " must be float32, found " + dataTypeName(dtype));
  }
  return out;
}

Expected<int64_t> normalizeAxis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank)
    return invalidModel(what + " = " + std::to_string(axis) + " is outside [" + std::to_string(-rank) + ", " +
                        std::to_string(rank - 1) + "] for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Expected<std::vector<int64_t>> normalizeAxes(std::span<const int64_t> axes, int64_t rank, const std::string& what) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(int64_t a, normalizeAxis(axes[i], rank, what + "[" + std::to_string(i) + "]"));
    if (seen[a]) return invalidModel(what + " names axis " + std::to_string(a) + " more than once");
    seen[a] = true;
    out.push_back(a);
  }
  return out;
}

Expected<SliceParams> computeSlice(const Dims& data, std::span<const int64_t> starts, std::span<const int64_t> ends,
                                   std::span<const int64_t> axes, std::span<const int64_t> steps,
                                   const std::string& where) {
  const int64_t rank = static_cast<int64_t>(data.size());
  if (starts.size() != ends.size())
    return invalidModel(where + "'starts' has " + std::to_string(starts.size()) + " values but 'ends' has " +
                        std::to_string(ends.size()));
  if (!axes.empty() && axes.size() != starts.size())
    return invalidModel(where + "'axes' has " + std::to_string(axes.size()) + " values, expected " +
                        std::to_string(starts.size()) + " (as many as 'starts')");
  if (!steps.empty() && steps.size() != starts.size())
    return invalidModel(where + "'steps' has " + std::to_string(steps.size()) + " values, expected " +
                        std::to_string(starts.size()) + " (as many as 'starts')");
  std::vector<int64_t> defaultAxes;
  if (axes.empty()) {
    if (static_cast<int64_t>(starts.size()) > rank)
      return invalidModel(where + "'starts' has " + std::to_string(starts.size()) + " values for data of rank " +
                          std::to_string(rank));
    for (size_t i = 0; i < starts.size(); ++i) defaultAxes.push_back(static_cast<int64_t>(i));
    axes = defaultAxes;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> normAxes, normalizeAxes(axes, rank, where + "'axes'"));
  SliceParams p;
  p.outDims = data;
  p.start.assign(rank, 0);
  p.step.assign(rank, 1);
  for (size_t i = 0; i < normAxes.size(); ++i) {
    const int64_t a = normAxes[i];
    const int64_t dim = data[a];
    const int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) return invalidModel(where + "'steps'[" + std::to_string(i) + "] is 0");
    int64_t start = starts[i];
    int64_t end = ends[i];
    if (start < 0) start = start < -dim ? -1 : start + dim;  // avoids overflow near INT64_MIN
    if (end < 0) end = end < -dim ? -1 : end + dim;
    int64_t count = 0;
    // A step longer than the axis takes one element; capping it keeps the arithmetic below from overflowing.
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      const int64_t mag = step > dim ? dim + 1 : step;
      if (end > start) count = (end - start + mag - 1) / mag;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      const int64_t mag = step < -dim ? dim + 1 : -step;
      if (start > end) count = (start - end + mag - 1) / mag;
    }
    p.outDims[a] = count;
    p.start[a] = count > 0 ? start : 0;
    p.step[a] = step;
  }
  return p;
}

Expected<PadParams> computePads(const Dims& data, std::span<const int64_t> pads, std::span<const int64_t> axes,
                                const std::string& where) {
  const int64_t rank = static_cast<int64_t>(data.size());
  std::vector<int64_t> normAxes;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) normAxes.push_back(i);
  } else {
    KILN_ASSIGN_OR_RETURN(normAxes, normalizeAxes(axes, rank, where + "'axes'"));
  }
  const size_t n = normAxes.size();
  if (pads.size() != 2 * n)
    return invalidModel(where + "'pads' has " + std::to_string(pads.size()) + " values, expected " +
                        std::to_string(2 * n) + " (2 x " + std::to_string(n) + " padded axes)");
  PadParams p;
  p.outDims = data;
  p.before.assign(rank, 0);
  p.after.assign(rank, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t a = normAxes[i];
    const int64_t limit = int64_t{1} << 40;
    if (std::abs(pads[i]) > limit || std::abs(pads[i + n]) > limit)
      return invalidModel(where + "'pads' for axis " + std::to_string(a) + " is implausibly large");
    p.before[a] = pads[i];
    p.after[a] = pads[i + n];
    p.outDims[a] = data[a] + pads[i] + pads[i + n];
    if (p.outDims[a] < 0)
      return invalidModel(where + "'pads' crop axis " + std::to_string(a) + " of size " + std::to_string(data[a]) +
                          " to a negative size " + std::to_string(p.outDims[a]));
  }
  return p;
}

Expected<ResizeParams> computeResize(const Dims& data, std::span<const float> roi, std::span<const float> scales,
                                     std::span<const int64_t> sizes, const ir::Node& node, const std::string& where) {
  const int64_t rank = static_cast<int64_t>(data.size());
  std::vector<int64_t> axes;
  if (node.attrs.has("axes")) {
    KILN_ASSIGN_OR_RETURN(axes, normalizeAxes(node.attrs.getInts("axes"), rank, where + "attribute 'axes'"));
  } else {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  const size_t n = axes.size();
  if (!scales.empty() && !sizes.empty()) return invalidModel(where + "only one of 'scales' and 'sizes' may be given");
  if (scales.empty() && sizes.empty()) return invalidModel(where + "one of 'scales' and 'sizes' must be given");
  ResizeParams p;
  p.outDims = data;
  p.scales.assign(rank, 1.0f);
  p.roiStart.assign(rank, 0.0f);
  p.roiEnd.assign(rank, 1.0f);
  if (!scales.empty()) {
    if (scales.size() != n)
      return invalidModel(where + "'scales' has " + std::to_string(scales.size()) + " values, expected " +
                          std::to_string(n));
    for (size_t i = 0; i < n; ++i) {
      const int64_t a = axes[i];
      if (!(scales[i] > 0.0f) || !std::isfinite(scales[i]))
        return invalidModel(where + "'scales'[" + std::to_string(i) + "] must be positive, found " +
                            std::to_string(scales[i]));
      p.scales[a] = scales[i];
      const float out = scales[i] * static_cast<float>(data[a]);  // float product, as onnxruntime computes it
      if (out > static_cast<float>(int64_t{1} << 40))
        return invalidModel(where + "'scales'[" + std::to_string(i) + "] makes axis " + std::to_string(a) +
                            " implausibly large");
      p.outDims[a] = static_cast<int64_t>(out);
    }
  } else {
    if (sizes.size() != n)
      return invalidModel(where + "'sizes' has " + std::to_string(sizes.size()) + " values, expected " +
                          std::to_string(n));
    for (size_t i = 0; i < n; ++i)
      if (sizes[i] < 0 || sizes[i] > (int64_t{1} << 40))
        return invalidModel(where + "'sizes'[" + std::to_string(i) + "] = " + std::to_string(sizes[i]) +
                            " is not a valid size");
    const std::string policy = node.attrs.getString("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch") {
      for (size_t i = 0; i < n; ++i) {
        const int64_t a = axes[i];
        p.outDims[a] = sizes[i];
        p.scales[a] = data[a] == 0 ? 1.0f : static_cast<float>(sizes[i]) / static_cast<float>(data[a]);
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      float scale = policy == "not_larger" ? std::numeric_limits<float>::max() : 0.0f;
      for (size_t i = 0; i < n; ++i) {
        const int64_t a = axes[i];
        const float s = data[a] == 0 ? 1.0f : static_cast<float>(sizes[i]) / static_cast<float>(data[a]);
        scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
      }
      for (size_t i = 0; i < n; ++i) {
        const int64_t a = axes[i];
        p.scales[a] = scale;
        p.outDims[a] = static_cast<int64_t>(std::round(scale * static_cast<float>(data[a])));
      }
    } else {
      return invalidModel(where + "attribute 'keep_aspect_ratio_policy' must be stretch, not_larger or "
                                  "not_smaller, found '" + policy + "'");
    }
  }
  if (node.attrs.getString("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize") {
    if (roi.size() != 2 * n)
      return invalidModel(where + "'roi' has " + std::to_string(roi.size()) + " values, expected " +
                          std::to_string(2 * n) + " for tf_crop_and_resize");
    for (size_t i = 0; i < n; ++i) {
      p.roiStart[axes[i]] = roi[i];
      p.roiEnd[axes[i]] = roi[i + n];
    }
  }
  return p;
}

}  // namespace kiln::ops

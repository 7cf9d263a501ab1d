#include "ops/window_geometry.h"

#include <algorithm>
#include <variant>

namespace kiln::ops {
namespace {

std::string listToString(std::span<const int64_t> v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// An ints attribute of exactly `count` entries, each >= minValue; `fallback` (already `count` long) when absent.
Expected<std::vector<int64_t>> readInts(const std::string& where, const ir::Attributes& attrs, const std::string& name,
                                        size_t count, int64_t minValue, std::vector<int64_t> fallback) {
  auto it = attrs.all().find(name);
  if (it == attrs.all().end()) return fallback;
  const auto* values = std::get_if<std::vector<int64_t>>(&it->second);
  if (!values) return invalidModel(where + "attribute '" + name + "' must be a list of ints");
  if (values->size() != count) {
    return invalidModel(where + "attribute '" + name + "' has " + std::to_string(values->size()) +
                        " entries, expected " + std::to_string(count) + " (one per spatial axis" +
                        (name == "pads" ? ", begins then ends)" : ")"));
  }
  for (size_t i = 0; i < values->size(); ++i) {
    if ((*values)[i] < minValue) {
      return invalidModel(where + "attribute '" + name + "'[" + std::to_string(i) + "] is " +
                          std::to_string((*values)[i]) + ", expected >= " + std::to_string(minValue));
    }
  }
  return *values;
}

Expected<std::string> readAutoPad(const std::string& where, const ir::Attributes& attrs) {
  std::string autoPad = attrs.getString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER" && autoPad != "VALID") {
    return invalidModel(where + "attribute 'auto_pad' is '" + autoPad +
                        "', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  return autoPad;
}

// Strides, dilations and the explicit pads shared by every window op.
Status readCommon(const std::string& where, const ir::Attributes& attrs, WindowGeometry& g) {
  const size_t r = g.rank();
  KILN_ASSIGN_OR_RETURN(g.strides, readInts(where, attrs, "strides", r, 1, std::vector<int64_t>(r, 1)));
  KILN_ASSIGN_OR_RETURN(g.dilations, readInts(where, attrs, "dilations", r, 1, std::vector<int64_t>(r, 1)));
  KILN_ASSIGN_OR_RETURN(auto pads, readInts(where, attrs, "pads", 2 * r, 0, std::vector<int64_t>(2 * r, 0)));
  g.padsBegin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(r));
  g.padsEnd.assign(pads.begin() + static_cast<std::ptrdiff_t>(r), pads.end());
  g.outputPadding.assign(r, 0);
  return Status::ok();
}

Status checkKernel(const std::string& where, const ir::Attributes& attrs, WindowOp op,
                   std::span<const int64_t> kernel, WindowGeometry& g) {
  const size_t r = g.rank();
  if (op == WindowOp::kPool || attrs.has("kernel_shape")) {
    if (op == WindowOp::kPool && !attrs.has("kernel_shape")) {
      return invalidModel(where + "attribute 'kernel_shape' is required");
    }
    KILN_ASSIGN_OR_RETURN(auto shape, readInts(where, attrs, "kernel_shape", r, 1, {}));
    if (!kernel.empty() && !std::equal(shape.begin(), shape.end(), kernel.begin(), kernel.end())) {
      return invalidModel(where + "attribute 'kernel_shape' " + listToString(shape) +
                          " disagrees with the weight's spatial dims " + listToString(kernel));
    }
    g.kernel = shape;
  } else {
    g.kernel.assign(kernel.begin(), kernel.end());
  }
  for (size_t i = 0; i < r; ++i) {
    if (g.kernel[i] < 1) {
      return invalidModel(where + "kernel dim " + std::to_string(i) + " is " + std::to_string(g.kernel[i]) +
                          ", expected >= 1");
    }
  }
  return Status::ok();
}

int64_t ceilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

}  // namespace

Expected<WindowGeometry> resolveWindow(const std::string& where, const ir::Attributes& attrs, WindowOp op,
                                       std::span<const int64_t> inputSpatial, std::span<const int64_t> kernel) {
  WindowGeometry g;
  g.input.assign(inputSpatial.begin(), inputSpatial.end());
  const size_t r = g.rank();
  KILN_RETURN_IF_ERROR(checkKernel(where, attrs, op, kernel, g));
  KILN_RETURN_IF_ERROR(readCommon(where, attrs, g));
  KILN_ASSIGN_OR_RETURN(const std::string autoPad, readAutoPad(where, attrs));
  const int64_t ceilMode = op == WindowOp::kPool ? attrs.getInt("ceil_mode", 0) : 0;
  if (ceilMode != 0 && ceilMode != 1) {
    return invalidModel(where + "attribute 'ceil_mode' is " + std::to_string(ceilMode) + ", expected 0 or 1");
  }
  g.output.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    const int64_t in = g.input[i], s = g.strides[i], ek = g.effectiveKernel(i);
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      g.output[i] = ceilDiv(in, s);
      const int64_t total = std::max<int64_t>(0, (g.output[i] - 1) * s + ek - in);
      g.padsBegin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.padsEnd[i] = total - g.padsBegin[i];
      continue;
    }
    if (autoPad == "VALID") g.padsBegin[i] = g.padsEnd[i] = 0;
    const int64_t span = in + g.padsBegin[i] + g.padsEnd[i] - ek;
    if (span < 0) {
      return invalidModel(where + "spatial axis " + std::to_string(i) + ": input size " + std::to_string(in) +
                          " plus pads " + std::to_string(g.padsBegin[i]) + "+" + std::to_string(g.padsEnd[i]) +
                          " is smaller than the dilated kernel " + std::to_string(ek));
    }
    g.output[i] = (ceilMode ? ceilDiv(span, s) : span / s) + 1;
    // ceil_mode never starts a window in the end padding (ONNX rule, as onnxruntime applies it).
    if (ceilMode && (g.output[i] - 1) * s >= in + g.padsBegin[i]) --g.output[i];
  }
  if (op == WindowOp::kPool) {
    for (size_t i = 0; i < r; ++i) {
      if (g.padsBegin[i] >= g.effectiveKernel(i) || g.padsEnd[i] >= g.effectiveKernel(i)) {
        return invalidModel(where + "spatial axis " + std::to_string(i) + ": pads " + std::to_string(g.padsBegin[i]) +
                            "," + std::to_string(g.padsEnd[i]) + " must be smaller than the kernel " +
                            std::to_string(g.effectiveKernel(i)) + " (a window would hold only padding)");
      }
    }
  }
  for (size_t i = 0; i < r; ++i) {
    if (g.output[i] < 1) {
      return invalidModel(where + "spatial axis " + std::to_string(i) + " would have output size " +
                          std::to_string(g.output[i]) + " (input " + std::to_string(g.input[i]) + ")");
    }
  }
  return g;
}

Expected<WindowGeometry> resolveTransposedWindow(const std::string& where, const ir::Attributes& attrs,
                                                 std::span<const int64_t> inputSpatial,
                                                 std::span<const int64_t> kernel) {
  WindowGeometry g;
  g.input.assign(inputSpatial.begin(), inputSpatial.end());
  const size_t r = g.rank();
  KILN_RETURN_IF_ERROR(checkKernel(where, attrs, WindowOp::kConv, kernel, g));
  KILN_RETURN_IF_ERROR(readCommon(where, attrs, g));
  KILN_ASSIGN_OR_RETURN(g.outputPadding, readInts(where, attrs, "output_padding", r, 0, std::vector<int64_t>(r, 0)));
  KILN_ASSIGN_OR_RETURN(const std::string autoPad, readAutoPad(where, attrs));
  for (size_t i = 0; i < r; ++i) {
    if (g.outputPadding[i] >= std::max(g.strides[i], g.dilations[i])) {
      return invalidModel(where + "attribute 'output_padding'[" + std::to_string(i) + "] is " +
                          std::to_string(g.outputPadding[i]) + ", expected less than the stride or dilation");
    }
  }
  std::vector<int64_t> outputShape;
  if (attrs.has("output_shape")) {
    auto it = attrs.all().find("output_shape");
    const auto* values = std::get_if<std::vector<int64_t>>(&it->second);
    if (!values) return invalidModel(where + "attribute 'output_shape' must be a list of ints");
    outputShape = *values;
    // Some exporters write the full N,C,spatial shape; only the spatial part matters.
    if (outputShape.size() == r + 2) outputShape.erase(outputShape.begin(), outputShape.begin() + 2);
    if (outputShape.size() != r) {
      return invalidModel(where + "attribute 'output_shape' has " + std::to_string(values->size()) +
                          " entries, expected " + std::to_string(r) + " (one per spatial axis)");
    }
  }
  g.output.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    const int64_t full = g.strides[i] * (g.input[i] - 1) + g.outputPadding[i] + g.effectiveKernel(i);
    const bool same = autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER";
    if (!outputShape.empty() || same) {
      const int64_t out = outputShape.empty() ? g.input[i] * g.strides[i] : outputShape[i];
      const int64_t total = full - out;
      if (total < 0) {
        return invalidModel(where + "spatial axis " + std::to_string(i) + ": output size " + std::to_string(out) +
                            " exceeds what the input gives (" + std::to_string(full) + ")");
      }
      g.padsBegin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.padsEnd[i] = total - g.padsBegin[i];
      g.output[i] = out;
      continue;
    }
    if (autoPad == "VALID") g.padsBegin[i] = g.padsEnd[i] = 0;
    g.output[i] = full - g.padsBegin[i] - g.padsEnd[i];
    if (g.output[i] < 1) {
      return invalidModel(where + "spatial axis " + std::to_string(i) + " would have output size " +
                          std::to_string(g.output[i]) + " (pads larger than the output)");
    }
  }
  return g;
}

}  // namespace kiln::ops

// Sliding-window geometry of Conv, ConvTranspose, MaxPool and AveragePool: kernel, strides, dilations, pads and
// output size per spatial axis, resolved once from the node's attributes and the input dims so that shape inference
// and every backend agree on the same numbers (auto_pad and ceil_mode included).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ir/attributes.h"
#include "kiln/status.h"

namespace kiln::ops {

struct WindowGeometry {
  std::vector<int64_t> input;  // spatial dims of X
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> padsBegin;
  std::vector<int64_t> padsEnd;
  std::vector<int64_t> outputPadding;  // ConvTranspose only (zeros elsewhere)
  std::vector<int64_t> output;         // spatial dims of Y
  size_t rank() const { return input.size(); }
  /// (kernel - 1) * dilation + 1 along `axis`.
  int64_t effectiveKernel(size_t axis) const { return (kernel[axis] - 1) * dilations[axis] + 1; }
};

enum class WindowOp { kConv, kPool };

/// Conv (kernel = W's spatial dims; a kernel_shape attribute must agree) or a pool (kernel empty: kernel_shape is
/// required). Reads strides, dilations, pads, auto_pad and, for pools, ceil_mode. `where` prefixes messages.
Expected<WindowGeometry> resolveWindow(const std::string& where, const ir::Attributes& attrs, WindowOp op,
                                       std::span<const int64_t> inputSpatial, std::span<const int64_t> kernel);

/// ConvTranspose: also output_padding and output_shape; pads follow ONNX's rule (SAME_UPPER puts the odd pad at
/// the end, NOTSET with output_shape and SAME_LOWER at the start).
Expected<WindowGeometry> resolveTransposedWindow(const std::string& where, const ir::Attributes& attrs,
                                                 std::span<const int64_t> inputSpatial,
                                                 std::span<const int64_t> kernel);

}  // namespace kiln::ops

// Parameters that both shape inference (src/ops) and the CPU kernels (src/backends/cpu) derive from an op's
// inputs and attributes: Slice bounds, Pad amounts, Resize scales. Computed in one place so that the inferred
// output shape and the kernel's indexing can never disagree.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ops {

/// Contents of an int32 or int64 tensor as int64; `what` names the input in the error for any other dtype.
Expected<std::vector<int64_t>> readIntegers(DataType dtype, const void* data, int64_t count, const std::string& what);
/// Contents of a float32 tensor (float64 accepted too).
Expected<std::vector<float>> readFloats(DataType dtype, const void* data, int64_t count, const std::string& what);

/// Maps `axis` in [-rank, rank) to [0, rank); the error names `what` and the allowed range.
Expected<int64_t> normalizeAxis(int64_t axis, int64_t rank, const std::string& what);
/// Normalizes each axis and rejects repeats.
Expected<std::vector<int64_t>> normalizeAxes(std::span<const int64_t> axes, int64_t rank, const std::string& what);

/// Slice bounds for every axis of the data: element i of the output along axis d reads start[d] + i * step[d].
struct SliceParams {
  Dims outDims;
  std::vector<int64_t> start;
  std::vector<int64_t> step;
};
/// ONNX Slice clamping (negative and INT64_MAX-sized starts/ends, negative steps). `axes`/`steps` may be empty
/// (= all axes / all ones).
Expected<SliceParams> computeSlice(const Dims& data, std::span<const int64_t> starts, std::span<const int64_t> ends,
                                   std::span<const int64_t> axes, std::span<const int64_t> steps,
                                   const std::string& where);

/// Pad amounts per data axis (negative = crop).
struct PadParams {
  Dims outDims;
  std::vector<int64_t> before;
  std::vector<int64_t> after;
};
Expected<PadParams> computePads(const Dims& data, std::span<const int64_t> pads, std::span<const int64_t> axes,
                                const std::string& where);

/// Resize's per-axis scale (output/input as ONNX defines it), output dims and region of interest.
struct ResizeParams {
  Dims outDims;
  std::vector<float> scales;
  std::vector<float> roiStart;  // per axis, tf_crop_and_resize only (0 elsewhere)
  std::vector<float> roiEnd;    // per axis (1 elsewhere)
};
/// `roi`, `scales`, `sizes` are the optional inputs' contents (empty when absent); attributes come from `node`.
Expected<ResizeParams> computeResize(const Dims& data, std::span<const float> roi, std::span<const float> scales,
                                     std::span<const int64_t> sizes, const ir::Node& node, const std::string& where);

}  // namespace kiln::ops

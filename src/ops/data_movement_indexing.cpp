// Shape inference for the indexing ops of the data-movement family: Slice, Gather*, Scatter*, Pad, Resize, Trilu.
#include <algorithm>

#include "ops/data_movement_infer.h"
#include "ops/data_movement_params.h"

namespace kiln::ops::datamove {
namespace {

TensorInfo like(const TensorInfo& in, Dims dims) { return TensorInfo{in.dtype, std::move(dims), nullptr}; }

std::string shapeOf(const InferenceCall& call, size_t i) { return dimsToString(call.inputs[i].dims); }

}  // namespace

InferResult inferSlice(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 3));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> starts, knownIntegers(call, 1, "starts"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ends, knownIntegers(call, 2, "ends"));
  std::vector<int64_t> axes, steps;
  if (hasInput(call, 3)) {
    KILN_ASSIGN_OR_RETURN(axes, knownIntegers(call, 3, "axes"));
  }
  if (hasInput(call, 4)) {
    KILN_ASSIGN_OR_RETURN(steps, knownIntegers(call, 4, "steps"));
  }
  KILN_ASSIGN_OR_RETURN(SliceParams p, computeSlice(call.inputs[0].dims, starts, ends, axes, steps, call.where()));
  return std::vector<TensorInfo>{like(call.inputs[0], p.outDims)};
}

InferResult inferGather(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  KILN_RETURN_IF_ERROR(requireIndexType(call, 1, "indices"));
  const Dims& data = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(data.size());
  if (rank < 1) return invalidModel(call.where() + "input 'data' must have rank >= 1, found a scalar");
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(call.node.attrs.getInt("axis", 0), rank, call.where() + "attribute 'axis'"));
  Dims out(data.begin(), data.begin() + axis);
  for (int64_t d : call.inputs[1].dims) out.push_back(d);
  for (int64_t d = axis + 1; d < rank; ++d) out.push_back(data[d]);
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

namespace {

/// GatherElements/ScatterElements: attribute 'axis' is valid for data's rank, and off that axis 'indices' is no
/// larger than 'data'.
Status checkIndicesFitData(const InferenceCall& call, const Dims& data, const Dims& idx) {
  const int64_t rank = static_cast<int64_t>(data.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(call.node.attrs.getInt("axis", 0), rank, call.where() + "attribute 'axis'"));
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && idx[d] > data[d])
      return invalidModel(call.where() + "'indices' dim " + std::to_string(d) + " (" + std::to_string(idx[d]) +
                          ") exceeds 'data' dim (" + std::to_string(data[d]) + ")");
  return Status::ok();
}

}  // namespace

InferResult inferGatherElements(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  KILN_RETURN_IF_ERROR(requireIndexType(call, 1, "indices"));
  const Dims& data = call.inputs[0].dims;
  const Dims& idx = call.inputs[1].dims;
  const int64_t rank = static_cast<int64_t>(data.size());
  if (rank < 1 || idx.size() != data.size())
    return invalidModel(call.where() + "'indices' (shape " + shapeOf(call, 1) + ") must have the rank of 'data' (" +
                        shapeOf(call, 0) + "), at least 1");
  KILN_RETURN_IF_ERROR(checkIndicesFitData(call, data, idx));
  return std::vector<TensorInfo>{like(call.inputs[0], idx)};
}

InferResult inferGatherND(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  if (call.inputs[1].dtype != DataType::kInt64)
    return invalidModel(call.where() + "input 'indices' must be int64, found " + dataTypeName(call.inputs[1].dtype));
  const Dims& data = call.inputs[0].dims;
  const Dims& idx = call.inputs[1].dims;
  const int64_t r = static_cast<int64_t>(data.size());
  const int64_t q = static_cast<int64_t>(idx.size());
  const int64_t b = call.node.attrs.getInt("batch_dims", 0);
  if (r < 1 || q < 1) return invalidModel(call.where() + "'data' and 'indices' must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    return invalidModel(call.where() + "attribute 'batch_dims' = " + std::to_string(b) + " must be in [0, " +
                        std::to_string(std::min(r, q) - 1) + "]");
  const int64_t k = idx[q - 1];
  if (k < 1 || k > r - b)
    return invalidModel(call.where() + "last dim of 'indices' (" + std::to_string(k) + ") must be in [1, " +
                        std::to_string(r - b) + "] (data rank minus batch_dims)");
  for (int64_t d = 0; d < b; ++d)
    if (data[d] != idx[d])
      return invalidModel(call.where() + "batch dim " + std::to_string(d) + " differs: 'data' " + shapeOf(call, 0) +
                          ", 'indices' " + shapeOf(call, 1));
  Dims out(idx.begin(), idx.end() - 1);
  for (int64_t d = b + k; d < r; ++d) out.push_back(data[d]);
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

static Status checkReduction(const InferenceCall& call, bool allowMinMax) {
  const std::string red = call.node.attrs.getString("reduction", "none");
  if (red == "none" || red == "add" || red == "mul") return Status::ok();
  if (allowMinMax && (red == "max" || red == "min")) return Status::ok();
  return invalidModel(call.where() + "attribute 'reduction' must be none, add, mul" +
                      (allowMinMax ? ", max or min" : "") + ", found '" + red + "'");
}

InferResult inferScatterND(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 3));
  if (call.inputs[1].dtype != DataType::kInt64)
    return invalidModel(call.where() + "input 'indices' must be int64, found " + dataTypeName(call.inputs[1].dtype));
  if (call.inputs[2].dtype != call.inputs[0].dtype)
    return invalidModel(call.where() + "'updates' must have the dtype of 'data'");
  KILN_RETURN_IF_ERROR(checkReduction(call, true));
  const Dims& data = call.inputs[0].dims;
  const Dims& idx = call.inputs[1].dims;
  const Dims& upd = call.inputs[2].dims;
  const int64_t r = static_cast<int64_t>(data.size());
  const int64_t q = static_cast<int64_t>(idx.size());
  if (r < 1 || q < 1) return invalidModel(call.where() + "'data' and 'indices' must have rank >= 1");
  const int64_t k = idx[q - 1];
  if (k < 1 || k > r)
    return invalidModel(call.where() + "last dim of 'indices' (" + std::to_string(k) + ") must be in [1, " +
                        std::to_string(r) + "]");
  Dims expected(idx.begin(), idx.end() - 1);
  for (int64_t d = k; d < r; ++d) expected.push_back(data[d]);
  if (upd != expected)
    return invalidModel(call.where() + "'updates' has shape " + shapeOf(call, 2) + ", expected " +
                        dimsToString(expected));
  return std::vector<TensorInfo>{like(call.inputs[0], data)};
}

InferResult inferScatterElements(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 3));
  KILN_RETURN_IF_ERROR(requireIndexType(call, 1, "indices"));
  if (call.inputs[2].dtype != call.inputs[0].dtype)
    return invalidModel(call.where() + "'updates' must have the dtype of 'data'");
  KILN_RETURN_IF_ERROR(checkReduction(call, true));
  const Dims& data = call.inputs[0].dims;
  const Dims& idx = call.inputs[1].dims;
  const int64_t rank = static_cast<int64_t>(data.size());
  if (rank < 1 || idx.size() != data.size() || call.inputs[2].dims != idx)
    return invalidModel(call.where() + "'indices' (" + shapeOf(call, 1) + ") and 'updates' (" + shapeOf(call, 2) +
                        ") must have one shape, of the rank of 'data' (" + shapeOf(call, 0) + ")");
  KILN_RETURN_IF_ERROR(checkIndicesFitData(call, data, idx));
  return std::vector<TensorInfo>{like(call.inputs[0], data)};
}

InferResult inferPad(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  const std::string mode = call.node.attrs.getString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return invalidModel(call.where() + "attribute 'mode' must be constant, reflect, edge or wrap, found '" + mode +
                        "'");
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> pads, knownIntegers(call, 1, "pads"));
  std::vector<int64_t> axes;
  if (hasInput(call, 3)) {
    KILN_ASSIGN_OR_RETURN(axes, knownIntegers(call, 3, "axes"));
  }
  if (hasInput(call, 2)) {
    if (call.inputs[2].dtype != call.inputs[0].dtype || elementCount(call.inputs[2].dims) != 1)
      return invalidModel(call.where() + "'constant_value' must be one " + dataTypeName(call.inputs[0].dtype) +
                          " value, found " + dataTypeName(call.inputs[2].dtype) + " of shape " + shapeOf(call, 2));
  }
  const Dims& data = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(PadParams p, computePads(data, pads, axes, call.where()));
  if (mode != "constant")
    for (size_t a = 0; a < data.size(); ++a)
      if (data[a] == 0 && p.outDims[a] > 0)
        return invalidModel(call.where() + "mode '" + mode + "' cannot pad empty axis " + std::to_string(a));
  return std::vector<TensorInfo>{like(call.inputs[0], p.outDims)};
}

InferResult inferResize(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1));
  const ir::Attributes& at = call.node.attrs;
  const std::string mode = at.getString("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    return invalidModel(call.where() + "attribute 'mode' must be nearest, linear or cubic, found '" + mode + "'");
  const std::string ctm = at.getString("coordinate_transformation_mode", "half_pixel");
  if (ctm != "half_pixel" && ctm != "asymmetric" && ctm != "align_corners" && ctm != "pytorch_half_pixel" &&
      ctm != "tf_crop_and_resize" && ctm != "half_pixel_symmetric")
    return unsupported(call.where() + "coordinate_transformation_mode '" + ctm + "' is not supported");
  const std::string nm = at.getString("nearest_mode", "round_prefer_floor");
  if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil")
    return invalidModel(call.where() + "attribute 'nearest_mode' has unknown value '" + nm + "'");
  if (at.getInt("antialias", 0) != 0) return unsupported(call.where() + "antialias=1 is not supported");
  // Interpolation and crop extrapolation compute in float32: float16/bfloat16 data is staged (CPU) or loaded into
  // float32 registers (CUDA); integer data would need ONNX's rounding, which kiln does not implement.
  const DataType t = call.inputs[0].dtype;
  const bool floatData = t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
  if (mode != "nearest" && !floatData)
    return unsupported(call.where() + "mode '" + mode + "' needs float32, float16 or bfloat16 data, found " +
                       dataTypeName(t));
  if (ctm == "tf_crop_and_resize" && !floatData)
    return unsupported(call.where() + "tf_crop_and_resize needs float32, float16 or bfloat16 data, found " +
                       dataTypeName(t));
  std::vector<float> roi, scales;
  std::vector<int64_t> sizes;
  if (ctm == "tf_crop_and_resize" && hasInput(call, 1)) {
    KILN_ASSIGN_OR_RETURN(roi, knownFloats(call, 1, "roi"));
  }
  if (hasInput(call, 2)) {
    KILN_ASSIGN_OR_RETURN(scales, knownFloats(call, 2, "scales"));
  }
  if (hasInput(call, 3)) {
    KILN_ASSIGN_OR_RETURN(sizes, knownIntegers(call, 3, "sizes"));
  }
  KILN_ASSIGN_OR_RETURN(ResizeParams p,
                        computeResize(call.inputs[0].dims, roi, scales, sizes, call.node, call.where()));
  return std::vector<TensorInfo>{like(call.inputs[0], p.outDims)};
}

InferResult inferTrilu(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1));
  if (call.inputs[0].dims.size() < 2)
    return invalidModel(call.where() + "input must have rank >= 2, found shape " + shapeOf(call, 0));
  if (hasInput(call, 1)) {
    KILN_RETURN_IF_ERROR(requireIndexType(call, 1, "k"));
    if (elementCount(call.inputs[1].dims) != 1)
      return invalidModel(call.where() + "'k' must hold one value, found shape " + shapeOf(call, 1));
  }
  return std::vector<TensorInfo>{like(call.inputs[0], call.inputs[0].dims)};
}

}  // namespace kiln::ops::datamove

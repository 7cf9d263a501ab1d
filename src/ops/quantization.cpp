// Quantization family: QuantizeLinear and DequantizeLinear (opsets 13, 19, 21, 23), 8- and 16-bit integers, per
// tensor, per axis and blocked. The float8/int4 types of opsets 19+ are refused by the model reader already.
#include "ops/quantization.h"

#include <algorithm>
#include <string>
#include <variant>

#include "ops/families.h"

namespace kiln::ops {
namespace {

using ir::OpKind;

bool isScaleType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

Status checkCommon(const InferenceCall& call, const char* scaleName, const char* zeroName) {
  if (call.inputs.size() < 2 || call.inputs.size() > 3)
    return invalidModel(call.where() + "expected 2 or 3 inputs, found " + std::to_string(call.inputs.size()));
  if (!call.inputs[0].present() || !call.inputs[1].present())
    return invalidModel(call.where() + "inputs 0 'x' and 1 '" + scaleName + "' are required");
  for (const char* a : {"axis", "block_size", "output_dtype", "saturate", "precision"})
    KILN_RETURN_IF_ERROR(requireIntAttr(call, a));
  const TensorInfo& scale = call.inputs[1];
  if (!isScaleType(scale.dtype))
    return unsupported(call.where() + "input 1 '" + scaleName + "' has type " + dataTypeName(scale.dtype) +
                       "; expected float32, float16 or bfloat16");
  const int64_t block = call.node.attrs.getInt("block_size", 0);
  KILN_RETURN_IF_ERROR(quantizationLayout(call.inputs[0].dims, scale.dims, call.node.attrs.getInt("axis", 1), block,
                                          call.where())
                           .status());
  if (call.inputs.size() == 3 && call.inputs[2].present() && call.inputs[2].dims != scale.dims &&
      !(elementCount(call.inputs[2].dims) == 1 && elementCount(scale.dims) == 1))
    return invalidModel(call.where() + "input 2 '" + zeroName + "' has shape " + dimsToString(call.inputs[2].dims) +
                        "; expected the shape of '" + scaleName + "' " + dimsToString(scale.dims));
  return Status::ok();
}

InferResult inferQuantize(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkCommon(call, "y_scale", "y_zero_point"));
  const TensorInfo& x = call.inputs[0];
  if (!isScaleType(x.dtype))
    return unsupported(call.where() + "input 0 'x' has type " + dataTypeName(x.dtype) +
                       "; kiln quantizes float32, float16 or bfloat16");
  const int64_t precision = call.node.attrs.getInt("precision", 0);
  if (precision != 0 && !isScaleType(static_cast<DataType>(precision)))
    return unsupported(call.where() + "attribute 'precision' " + std::to_string(precision) +
                       " is not float32, float16 or bfloat16");
  const auto outAttr = static_cast<DataType>(call.node.attrs.getInt("output_dtype", 0));
  DataType out = outAttr == DataType::kUndefined ? DataType::kUInt8 : outAttr;
  if (call.inputs.size() == 3 && call.inputs[2].present()) {
    const DataType zp = call.inputs[2].dtype;
    if (outAttr != DataType::kUndefined && outAttr != zp)
      return invalidModel(call.where() + "attribute 'output_dtype' " + dataTypeName(outAttr) +
                          " differs from the type of input 2 'y_zero_point' " + dataTypeName(zp));
    out = zp;
  }
  if (!isQuantizedIntegerType(out) || out == DataType::kInt32)
    return unsupported(call.where() + "quantizing to " + dataTypeName(out) +
                       " is not supported; kiln quantizes to int8, uint8, int16 or uint16");
  return std::vector<TensorInfo>{{out, x.dims, nullptr}};
}

InferResult inferDequantize(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkCommon(call, "x_scale", "x_zero_point"));
  const TensorInfo& x = call.inputs[0];
  if (!isQuantizedIntegerType(x.dtype))
    return unsupported(call.where() + "input 0 'x' has type " + dataTypeName(x.dtype) +
                       "; kiln dequantizes int8, uint8, int16, uint16 or int32");
  if (call.inputs.size() == 3 && call.inputs[2].present() && call.inputs[2].dtype != x.dtype)
    return invalidModel(call.where() + "input 2 'x_zero_point' has type " + dataTypeName(call.inputs[2].dtype) +
                        "; expected the type of 'x', " + dataTypeName(x.dtype));
  const auto outAttr = static_cast<DataType>(call.node.attrs.getInt("output_dtype", 0));
  if (outAttr != DataType::kUndefined && !isScaleType(outAttr))
    return unsupported(call.where() + "attribute 'output_dtype' " + dataTypeName(outAttr) +
                       " is not float32, float16 or bfloat16");
  const DataType out = outAttr == DataType::kUndefined ? call.inputs[1].dtype : outAttr;
  return std::vector<TensorInfo>{{out, x.dims, nullptr}};
}

}  // namespace

Expected<QuantizationLayout> quantizationLayout(const Dims& xDims, const Dims& scaleDims, int64_t axis,
                                                int64_t blockSize, const std::string& where) {
  QuantizationLayout layout;
  if (blockSize < 0) return invalidModel(where + "attribute 'block_size' must be >= 0, found " + std::to_string(blockSize));
  const int64_t scaleCount = elementCount(scaleDims);
  if (scaleCount == 1) {  // per tensor, whatever the axis (ONNX's reference reads a 1-element scale as a scalar)
    layout.inner = std::max<int64_t>(elementCount(xDims), 1);
    return layout;
  }
  const auto rank = static_cast<int64_t>(xDims.size());
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    return invalidModel(where + "attribute 'axis' " + std::to_string(axis) + " is out of range for 'x' of rank " +
                        std::to_string(rank));
  layout.outer = 1;
  for (int64_t d = 0; d < a; ++d) layout.outer *= xDims[d];
  layout.axisLen = xDims[a];
  layout.inner = 1;
  for (int64_t d = a + 1; d < rank; ++d) layout.inner *= xDims[d];
  if (blockSize == 0) {
    if (scaleDims.size() != 1 || scaleDims[0] != xDims[a])
      return invalidModel(where + "the scale has shape " + dimsToString(scaleDims) + "; per-axis quantization along axis " +
                          std::to_string(a) + " expects [" + std::to_string(xDims[a]) + "] (or one element)");
    layout.axisStride = 1;
    return layout;
  }
  const int64_t blocks = (xDims[a] + blockSize - 1) / blockSize;
  bool matches = static_cast<int64_t>(scaleDims.size()) == rank;
  for (int64_t d = 0; matches && d < rank; ++d) matches = scaleDims[d] == (d == a ? blocks : xDims[d]);
  if (!matches) {
    Dims expected = xDims;
    expected[a] = blocks;
    return invalidModel(where + "the scale has shape " + dimsToString(scaleDims) + "; blocked quantization (block_size " +
                        std::to_string(blockSize) + " along axis " + std::to_string(a) + ") expects " +
                        dimsToString(expected));
  }
  layout.block = blockSize;
  layout.outerStride = blocks * layout.inner;
  layout.axisStride = layout.inner;
  layout.innerStride = 1;
  return layout;
}

bool isQuantizedIntegerType(DataType type) {
  switch (type) {
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kInt16:
    case DataType::kUInt16:
    case DataType::kInt32: return true;
    default: return false;
  }
}

IntegerRange integerRange(DataType type) {
  switch (type) {
    case DataType::kInt8: return {-128.f, 127.f};
    case DataType::kUInt8: return {0.f, 255.f};
    case DataType::kInt16: return {-32768.f, 32767.f};
    case DataType::kUInt16: return {0.f, 65535.f};
    default: return {-2147483648.f, 2147483520.f};  // int32: the largest float below 2^31
  }
}

DataType quantizeDivisionType(DataType x, DataType scale, int64_t precisionAttr) {
  if (precisionAttr != 0) return static_cast<DataType>(precisionAttr);
  return x == scale ? x : DataType::kFloat32;
}

InferResult inferQuantization(const InferenceCall& call) {
  switch (call.node.op) {
    case OpKind::kQuantizeLinear: return inferQuantize(call);
    case OpKind::kDequantizeLinear: return inferDequantize(call);
    default: return internalError(call.where() + "not a quantization op");
  }
}

bool quantizationImplements(ir::OpKind kind) {
  return kind == OpKind::kQuantizeLinear || kind == OpKind::kDequantizeLinear;
}

}  // namespace kiln::ops

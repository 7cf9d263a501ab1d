// CPU reference of QuantizeLinear and DequantizeLinear (semantics in ops/quantization.h). Float data and scales
// may be float32, float16 or bfloat16; arithmetic is float32 with the ONNX reference's roundings.
#include "ops/quantization.h"

#include <cstdint>

#include "backends/cpu/cpu_kernels.h"
#include "core/half.h"
#include "ops/broadcast.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

float loadFloat(DataType t, const void* p, int64_t i) {
  switch (t) {
    case DataType::kFloat16: return halfBitsToFloat(static_cast<const uint16_t*>(p)[i]);
    case DataType::kBFloat16: return bfloat16BitsToFloat(static_cast<const uint16_t*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

void storeFloat(DataType t, void* p, int64_t i, float v) {
  switch (t) {
    case DataType::kFloat16: static_cast<uint16_t*>(p)[i] = floatToHalfBits(v); break;
    case DataType::kBFloat16: static_cast<uint16_t*>(p)[i] = floatToBfloat16Bits(v); break;
    default: static_cast<float*>(p)[i] = v;
  }
}

/// `v` rounded to `t` and back (identity for float32).
float roundTo(DataType t, float v) {
  switch (t) {
    case DataType::kFloat16: return halfBitsToFloat(floatToHalfBits(v));
    case DataType::kBFloat16: return bfloat16BitsToFloat(floatToBfloat16Bits(v));
    default: return v;
  }
}

float loadInteger(DataType t, const void* p, int64_t i) {
  switch (t) {
    case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DataType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    default: return static_cast<float>(static_cast<const int32_t*>(p)[i]);
  }
}

/// `v` is already saturated to t's range and integral.
void storeInteger(DataType t, void* p, int64_t i, float v) {
  switch (t) {
    case DataType::kInt8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v); break;
    case DataType::kUInt8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v); break;
    case DataType::kInt16: static_cast<int16_t*>(p)[i] = static_cast<int16_t>(v); break;
    case DataType::kUInt16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(v); break;
    default: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v);
  }
}

Expected<ops::QuantizationLayout> layoutOf(const KernelCall& call) {
  return ops::quantizationLayout(call.inputs[0].dims, call.inputs[1].dims, call.node.attrs.getInt("axis", 1),
                                 call.node.attrs.getInt("block_size", 0), call.where());
}

bool hasZeroPoint(const KernelCall& call) { return call.inputs.size() > 2 && call.inputs[2].present(); }

Status runQuantize(const KernelCall& call) {
  KILN_ASSIGN_OR_RETURN(const ops::QuantizationLayout layout, layoutOf(call));
  const DeviceTensor &x = call.inputs[0], &scale = call.inputs[1], &y = call.outputs[0];
  const DataType division =
      ops::quantizeDivisionType(x.dtype, scale.dtype, call.node.attrs.getInt("precision", 0));
  const ops::IntegerRange range = ops::integerRange(y.dtype);
  const bool zp = hasZeroPoint(call);
  ops::parallelForRange(x.elementCount(), ops::kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t s = layout.scaleIndex(i);
      const float quotient =
          roundTo(division, roundTo(division, loadFloat(x.dtype, x.data, i)) /
                                roundTo(division, loadFloat(scale.dtype, scale.data, s)));
      const float zero = zp ? loadInteger(call.inputs[2].dtype, call.inputs[2].data, s) : 0.f;
      storeInteger(y.dtype, y.data, i, ops::quantizeToInteger(quotient, zero, range));
    }
  });
  return Status::ok();
}

Status runDequantize(const KernelCall& call) {
  KILN_ASSIGN_OR_RETURN(const ops::QuantizationLayout layout, layoutOf(call));
  const DeviceTensor &x = call.inputs[0], &scale = call.inputs[1], &y = call.outputs[0];
  const bool zp = hasZeroPoint(call);
  ops::parallelForRange(x.elementCount(), ops::kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t s = layout.scaleIndex(i);
      const float zero = zp ? loadInteger(call.inputs[2].dtype, call.inputs[2].data, s) : 0.f;
      storeFloat(y.dtype, y.data, i, (loadInteger(x.dtype, x.data, i) - zero) * loadFloat(scale.dtype, scale.data, s));
    }
  });
  return Status::ok();
}

}  // namespace

Status runQuantization(const KernelCall& call) {
  switch (call.node.op) {
    case OpKind::kQuantizeLinear: return runQuantize(call);
    case OpKind::kDequantizeLinear: return runDequantize(call);
    default: return internalError(call.where() + "not a quantization op");
  }
}

}  // namespace kiln::backends::cpu

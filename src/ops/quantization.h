// QuantizeLinear / DequantizeLinear semantics shared by shape inference, every backend and the INT8 passes:
//   Q:  y = saturate(rint(x / scale) + zero_point)     (rint: round half to even; saturate to the integer type)
//   DQ: y = (x - zero_point) * scale                   (in float32, rounded once to the scale's type)
// Scale and zero point are per tensor (one element), per axis (1-D along `axis`) or blocked (x's rank, `axis` dim
// divided into blocks of `block_size`).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ops {

/// How an element of x finds its scale: x is viewed as [outer, axisLen, inner]; element (o, a, i) reads
/// scale[o * outerStride + (a / block) * axisStride + i * innerStride]. Per tensor: all strides 0.
struct QuantizationLayout {
  int64_t outer = 1, axisLen = 1, inner = 1;
  int64_t block = 1;
  int64_t outerStride = 0, axisStride = 0, innerStride = 0;
  int64_t scaleIndex(int64_t flat) const {
    const int64_t i = flat % inner, a = (flat / inner) % axisLen, o = flat / (inner * axisLen);
    return o * outerStride + (a / block) * axisStride + i * innerStride;
  }
};

/// The layout for x of `xDims` and a scale of `scaleDims` (attributes axis, block_size); errors start with `where`.
Expected<QuantizationLayout> quantizationLayout(const Dims& xDims, const Dims& scaleDims, int64_t axis,
                                                int64_t blockSize, const std::string& where);

/// The integer types QuantizeLinear writes and DequantizeLinear reads (int32 only for DequantizeLinear).
bool isQuantizedIntegerType(DataType type);
/// Saturation range of a quantized integer type.
struct IntegerRange {
  float lo, hi;
};
IntegerRange integerRange(DataType type);

/// The type QuantizeLinear divides in (ONNX: numpy's promotion of x and scale, or the `precision` attribute).
/// Division in float32 rounded once to a 16-bit type equals division in that type (24 >= 2 * 11 + 2 bits).
DataType quantizeDivisionType(DataType x, DataType scale, int64_t precisionAttr);

/// One element of QuantizeLinear, before the cast to the integer type: the quotient already rounded to the
/// division type. NaN saturates to the zero point (ONNX leaves it undefined; a fixed choice keeps backends equal).
inline float quantizeToInteger(float quotient, float zeroPoint, IntegerRange range) {
  if (std::isnan(quotient)) return zeroPoint;
  const float q = std::rint(quotient) + zeroPoint;  // rint honours the default round-to-nearest-even mode
  return q < range.lo ? range.lo : (q > range.hi ? range.hi : q);
}

}  // namespace kiln::ops

// One element of a host tensor of any float type as a double: what the checks that compare engines' outputs (the
// accuracy guard, run agreement, race search, layer traces, the CLI's --compare) read values with.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/half.h"
#include "kiln/types.h"

namespace kiln {

inline bool isFloatType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat64;
}

/// Element `i` of `t` (float32, float16, bfloat16 or float64); NaN for any other type.
inline double floatElementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.dataAs<float>()[i];
    case DataType::kFloat64: return t.dataAs<double>()[i];
    case DataType::kFloat16: return halfBitsToFloat(t.dataAs<uint16_t>()[i]);
    case DataType::kBFloat16: return bfloat16BitsToFloat(t.dataAs<uint16_t>()[i]);
    default: return std::nan("");
  }
}

}  // namespace kiln

// CPU elementwise kernels, part 3: Cast between float32/float64/float16/int64/int32/int8/uint8/bool, and Identity.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/cpu/elementwise_kernels.h"

namespace kiln::backends::cpu {
namespace {

/// ONNX bool storage: one byte, 0 or 1. A distinct type so uint8 and bool convert differently.
struct Bool8 {
  uint8_t v;
};

/// bfloat16: the top half of a float32's bits; conversions go through float32 with round-to-nearest-even.
struct BFloat16 {
  uint16_t bits;
};

inline float bfloat16ToFloat(BFloat16 x) {
  const uint32_t u = static_cast<uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline BFloat16 floatToBFloat16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (f != f) return BFloat16{static_cast<uint16_t>((u >> 16) | 0x40)};  // keep it a (quiet) NaN
  u += 0x7FFF + ((u >> 16) & 1);
  return BFloat16{static_cast<uint16_t>(u >> 16)};
}

/// Float to integer: truncation toward zero (ONNX/numpy). NaN and values outside int64 give int64's lowest, as the
/// x86 conversion instruction onnxruntime relies on does; narrower types then wrap modulo 2^bits like numpy.
template <typename To>
To floatToInteger(double x) {
  constexpr double limit = 9223372036854775808.0;  // 2^63
  int64_t wide = std::numeric_limits<int64_t>::lowest();
  if (x > -limit && x < limit) wide = static_cast<int64_t>(x);
  if constexpr (std::is_same_v<To, int32_t>) {
    // A direct 32-bit conversion saturates to int32's lowest outside its range (x86 behaviour).
    if (!(x > -2147483649.0 && x < 2147483648.0)) return std::numeric_limits<int32_t>::lowest();
  }
  return static_cast<To>(wide);
}

template <typename To, typename From>
To convert(From x) {
  if constexpr (std::is_same_v<From, BFloat16>) {
    return convert<To>(bfloat16ToFloat(x));
  } else if constexpr (std::is_same_v<To, BFloat16>) {
    return floatToBFloat16(convert<float>(x));
  } else if constexpr (std::is_same_v<From, Bool8>) {
    return convert<To>(static_cast<uint8_t>(x.v != 0));
  } else if constexpr (std::is_same_v<To, Bool8>) {
    return Bool8{static_cast<uint8_t>(x != From(0))};
  } else if constexpr (isFloatLike<From> && std::is_integral_v<To>) {
    return floatToInteger<To>(static_cast<double>(x));
  } else if constexpr (std::is_same_v<To, Half> && std::is_integral_v<From>) {
    return static_cast<Half>(static_cast<float>(x));
  } else if constexpr (std::is_same_v<From, Half> && std::is_integral_v<To>) {
    return floatToInteger<To>(static_cast<double>(static_cast<float>(x)));
  } else {
    return static_cast<To>(x);  // float<->float, int->float, int->int (modular narrowing, as numpy)
  }
}

template <typename Fn>
Status withCastType(const KernelCall& call, DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kBool: return fn(Bool8{});
    case DataType::kBFloat16: return fn(BFloat16{});
    default: return withAnyNumericType(call, t, fn);
  }
}

}  // namespace

Status runCast(const KernelCall& call) {
  const DeviceTensor& in = call.inputs[0];
  const DeviceTensor& out = call.outputs[0];
  if (in.dtype == out.dtype) return runIdentity(call);
  return withCastType(call, in.dtype, [&](auto fromTag) {
    using From = decltype(fromTag);
    return withCastType(call, out.dtype, [&](auto toTag) {
      using To = decltype(toTag);
      unaryMap<From, To>(in, out, [](From x) { return convert<To>(x); });
      return Status::ok();
    });
  });
}

Status runIdentity(const KernelCall& call) {
  const DeviceTensor& in = call.inputs[0];
  const DeviceTensor& out = call.outputs[0];
  if (in.dtype != out.dtype || in.elementCount() != out.elementCount())
    return internalError(call.where() + "output " + dataTypeName(out.dtype) + " " + dimsToString(out.dims) +
                         " does not match input " + dataTypeName(in.dtype) + " " + dimsToString(in.dims));
  const size_t bytes = static_cast<size_t>(in.elementCount()) * dataTypeSize(in.dtype);
  if (bytes != 0 && in.data != out.data) std::memcpy(out.data, in.data, bytes);
  return Status::ok();
}

}  // namespace kiln::backends::cpu

// Shared loops of the CPU elementwise kernels (elementwise*.cpp): a broadcasting binary map, a unary map, and a
// dtype dispatcher. Bool tensors are one byte per element and handled as uint8_t (0 or 1).
#pragma once

#include <cstdint>
#include <type_traits>

#include "backends/cpu/cpu_kernels.h"
#include "ops/broadcast.h"

namespace kiln::backends::cpu {

Status runUnaryElementwise(const KernelCall& call);  // elementwise_unary.cpp (also Clip)
Status runCast(const KernelCall& call);              // elementwise_cast.cpp
Status runIdentity(const KernelCall& call);          // elementwise_cast.cpp
Status runBitwise(const KernelCall& call);           // elementwise_bitwise.cpp (BitShift, BitwiseAnd/Or/Xor/Not)
Status runFusedElementwise(const KernelCall& call);  // elementwise_fused.cpp (FusedElementwise)
/// Runs a float32 unary kernel on a float16 tensor through float32 staging (numpy's float16 semantics).
Status runViaFloat32(const KernelCall& call, Status (*floatKernel)(const KernelCall&));

/// Calls fn(T{}) with T the C++ type of `t` among float32, int64, int32; unsupported otherwise.
template <typename Fn>
Status withNumericType(const KernelCall& call, DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat32: return fn(float{});
    case DataType::kInt64: return fn(int64_t{});
    case DataType::kInt32: return fn(int32_t{});
    default: return unsupported(call.where() + "no CPU kernel for dtype " + dataTypeName(t));
  }
}

/// IEEE half precision; GCC computes each operation in float and rounds back, as numpy does for float16.
using Half = _Float16;

template <typename T>
inline constexpr bool isFloatLike = std::is_floating_point_v<T> || std::is_same_v<T, Half>;

/// Calls fn(T{}) for the integer dtypes only (bitwise ops).
template <typename Fn>
Status withIntegerType(const KernelCall& call, DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kInt64: return fn(int64_t{});
    case DataType::kInt32: return fn(int32_t{});
    case DataType::kInt16: return fn(int16_t{});
    case DataType::kInt8: return fn(int8_t{});
    case DataType::kUInt64: return fn(uint64_t{});
    case DataType::kUInt32: return fn(uint32_t{});
    case DataType::kUInt16: return fn(uint16_t{});
    case DataType::kUInt8: return fn(uint8_t{});
    default: return unsupported(call.where() + "no CPU kernel for dtype " + dataTypeName(t));
  }
}

/// Calls fn(T{}) with T the C++ type of any numeric dtype: float32/64/16 and every 8-64 bit integer.
template <typename Fn>
Status withAnyNumericType(const KernelCall& call, DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat32: return fn(float{});
    case DataType::kFloat64: return fn(double{});
    case DataType::kFloat16: return fn(Half{});
    default: return withIntegerType(call, t, fn);
  }
}

/// Integer + - * that wrap around like two's complement instead of overflowing (undefined behaviour in C++).
template <typename T>
inline T wrappingAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
inline T wrappingSub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <typename T>
inline T wrappingMul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    // At least 32 bits: uint16 * uint16 would otherwise promote to (overflowing) signed int.
    using U = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

/// out = f(a, b) with numpy broadcasting of a and b to out's dims. Parallel over output chunks.
template <typename TA, typename TB, typename TO, typename F>
void broadcastBinary(const DeviceTensor& a, const DeviceTensor& b, const DeviceTensor& out, F f) {
  const Dims shapes[2] = {a.dims, b.dims};
  const ops::BroadcastPlan plan(std::span<const Dims>(shapes, 2), out.dims);
  const TA* pa0 = static_cast<const TA*>(a.data);
  const TB* pb0 = static_cast<const TB*>(b.data);
  TO* po0 = static_cast<TO*>(out.data);
  const bool sa = plan.innerStride(0) != 0;
  const bool sb = plan.innerStride(1) != 0;
  ops::parallelForRange(plan.totalElements(), ops::kParallelGrain, [&](int64_t begin, int64_t end) {
    plan.forEachSpan(begin, end, [&](int64_t outOffset, std::span<const int64_t> in, int64_t n) {
      const TA* pa = pa0 + in[0];
      const TB* pb = pb0 + in[1];
      TO* po = po0 + outOffset;
      if (sa && sb) {
        for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
      } else if (sa) {
        const TB vb = *pb;
        for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
      } else if (sb) {
        const TA va = *pa;
        for (int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
      } else {
        const TO v = f(*pa, *pb);
        for (int64_t i = 0; i < n; ++i) po[i] = v;
      }
    });
  });
}

/// out = in broadcast to out's dims (a copy when the shapes match).
template <typename T>
void broadcastCopy(const DeviceTensor& in, const DeviceTensor& out) {
  const ops::BroadcastPlan plan(std::span<const Dims>(&in.dims, 1), out.dims);
  const T* pi0 = static_cast<const T*>(in.data);
  T* po0 = static_cast<T*>(out.data);
  const bool contiguous = plan.innerStride(0) != 0;
  ops::parallelForRange(plan.totalElements(), ops::kParallelGrain, [&](int64_t begin, int64_t end) {
    plan.forEachSpan(begin, end, [&](int64_t outOffset, std::span<const int64_t> off, int64_t n) {
      const T* pi = pi0 + off[0];
      T* po = po0 + outOffset;
      if (contiguous) {
        for (int64_t i = 0; i < n; ++i) po[i] = pi[i];
      } else {
        const T v = *pi;
        for (int64_t i = 0; i < n; ++i) po[i] = v;
      }
    });
  });
}

/// out[i] = f(in[i]) over same-shaped contiguous tensors; `grain` smaller for expensive f.
template <typename TI, typename TO, typename F>
void unaryMap(const DeviceTensor& in, const DeviceTensor& out, F f, int64_t grain = ops::kParallelGrain) {
  const TI* pi = static_cast<const TI*>(in.data);
  TO* po = static_cast<TO*>(out.data);
  ops::parallelForRange(out.elementCount(), grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) po[i] = f(pi[i]);
  });
}

}  // namespace kiln::backends::cpu

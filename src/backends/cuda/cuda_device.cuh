// Device-side helpers shared by the .cu files: element loads/stores through a float (or wider) compute type, and
// the grid-stride loop. FP16 and BF16 data is always computed in FP32 (DESIGN.md rule 6).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kiln/types.h"

namespace kiln::backends::cuda {

/// The type arithmetic on T happens in.
template <typename T> struct ComputeOf { using type = T; };
template <> struct ComputeOf<__half> { using type = float; };
template <> struct ComputeOf<__nv_bfloat16> { using type = float; };
template <> struct ComputeOf<int32_t> { using type = int64_t; };
template <> struct ComputeOf<int16_t> { using type = int64_t; };
template <> struct ComputeOf<int8_t> { using type = int64_t; };
template <> struct ComputeOf<uint8_t> { using type = int64_t; };
template <> struct ComputeOf<uint16_t> { using type = int64_t; };
template <> struct ComputeOf<uint32_t> { using type = int64_t; };  // uint64 stays uint64: no wider signed type
template <typename T> using Compute = typename ComputeOf<T>::type;

template <typename To, typename From> __device__ __forceinline__ To convert(From x) { return static_cast<To>(x); }
template <> __device__ __forceinline__ float convert<float, __half>(__half x) { return __half2float(x); }
template <> __device__ __forceinline__ __half convert<__half, float>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ float convert<float, __nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ __nv_bfloat16 convert<__nv_bfloat16, float>(float x) { return __float2bfloat16_rn(x); }

/// Any float storage type (float, __half, __nv_bfloat16) to and from the float32 that kernels compute in. Round to
/// nearest even on the way down; exact on the way up.
template <typename T> __device__ __forceinline__ float toFloat(T x) { return convert<float>(x); }
template <typename T> __device__ __forceinline__ T fromFloat(float x) { return convert<T>(x); }

/// True for the 16-bit float storage types, whose arithmetic happens in float32.
template <typename T>
inline constexpr bool isNarrowFloat = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

template <typename T> __device__ __forceinline__ Compute<T> load(const T* p, int64_t i) {
  return convert<Compute<T>>(p[i]);
}
template <typename T, typename C> __device__ __forceinline__ void store(T* p, int64_t i, C v) {
  p[i] = convert<T>(v);
}

#define KILN_GRID_STRIDE(i, count) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (count); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

/// Calls f(T{}) with the C++ type of a float kernel's dtype (float32 or float16); false when neither.
template <typename F> bool dispatchFloat(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: f(float{}); return true;
    case DataType::kFloat16: f(__half{}); return true;
    default: return false;
  }
}

/// dispatchFloat plus bfloat16: float32, float16 or bfloat16 data, float32 arithmetic.
template <typename F> bool dispatchFloatOrBFloat16(DataType t, F&& f) {
  if (t == DataType::kBFloat16) {
    f(__nv_bfloat16{});
    return true;
  }
  return dispatchFloat(t, f);
}

/// Calls f(T{}) for the integer dtypes only.
template <typename F> bool dispatchInteger(DataType t, F&& f) {
  switch (t) {
    case DataType::kInt64: f(int64_t{}); return true;
    case DataType::kInt32: f(int32_t{}); return true;
    case DataType::kInt16: f(int16_t{}); return true;
    case DataType::kInt8: f(int8_t{}); return true;
    case DataType::kUInt64: f(uint64_t{}); return true;
    case DataType::kUInt32: f(uint32_t{}); return true;
    case DataType::kUInt16: f(uint16_t{}); return true;
    case DataType::kUInt8: f(uint8_t{}); return true;
    default: return false;
  }
}

/// Calls f(T{}) with the C++ type of any numeric dtype (floats and every 8-64 bit integer); false otherwise.
template <typename F> bool dispatchNumeric(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32: f(float{}); return true;
    case DataType::kFloat16: f(__half{}); return true;
    case DataType::kFloat64: f(double{}); return true;
    default: return dispatchInteger(t, f);
  }
}

/// dispatchNumeric plus bfloat16.
template <typename F> bool dispatchNumericOrBFloat16(DataType t, F&& f) {
  if (t == DataType::kBFloat16) {
    f(__nv_bfloat16{});
    return true;
  }
  return dispatchNumeric(t, f);
}

}  // namespace kiln::backends::cuda

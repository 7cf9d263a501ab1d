// QuantizeLinear / DequantizeLinear on the device: one thread per element, types resolved per element by uniform
// branches (these ops move little data next to the convolutions they feed). Division is IEEE (__fdiv_rn) and
// rounding rintf, so results equal the CPU reference bit for bit.
#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/quantization.h"

namespace kiln::backends::cuda {
namespace {

__device__ __forceinline__ float loadFloatAs(DataType t, const void* p, int64_t i) {
  switch (t) {
    case DataType::kFloat16: return __half2float(static_cast<const __half*>(p)[i]);
    case DataType::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

__device__ __forceinline__ void storeFloatAs(DataType t, void* p, int64_t i, float v) {
  switch (t) {
    case DataType::kFloat16: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case DataType::kBFloat16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float*>(p)[i] = v;
  }
}

__device__ __forceinline__ float roundTo(DataType t, float v) {
  switch (t) {
    case DataType::kFloat16: return __half2float(__float2half_rn(v));
    case DataType::kBFloat16: return __bfloat162float(__float2bfloat16_rn(v));
    default: return v;
  }
}

__device__ __forceinline__ float loadIntegerAs(DataType t, const void* p, int64_t i) {
  switch (t) {
    case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DataType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    default: return __int2float_rn(static_cast<const int32_t*>(p)[i]);
  }
}

__device__ __forceinline__ void storeIntegerAs(DataType t, void* p, int64_t i, float v) {
  switch (t) {
    case DataType::kInt8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v); break;
    case DataType::kUInt8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v); break;
    case DataType::kInt16: static_cast<int16_t*>(p)[i] = static_cast<int16_t>(v); break;
    default: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(v); break;
  }
}

__device__ __forceinline__ int64_t scaleIndex(const QuantizationArgs& a, int64_t flat) {
  const int64_t i = flat % a.inner, rest = flat / a.inner;
  const int64_t axis = rest % a.axisLen, o = rest / a.axisLen;
  return o * a.outerStride + (axis / a.block) * a.axisStride + i * a.innerStride;
}

__global__ void quantizeKernel(QuantizationArgs a) {
  KILN_GRID_STRIDE(i, a.count) {
    const int64_t s = scaleIndex(a, i);
    const float x = roundTo(a.divisionType, loadFloatAs(a.xType, a.x, i));
    const float scale = roundTo(a.divisionType, loadFloatAs(a.scaleType, a.scale, s));
    const float quotient = roundTo(a.divisionType, __fdiv_rn(x, scale));
    const float zero = a.zeroPoint ? loadIntegerAs(a.zeroPointType, a.zeroPoint, s) : 0.f;
    float q;
    if (isnan(quotient)) {
      q = zero;  // as the CPU reference: NaN saturates to the zero point
    } else {
      q = __fadd_rn(rintf(quotient), zero);
      q = fminf(fmaxf(q, a.lo), a.hi);
    }
    storeIntegerAs(a.yType, a.y, i, q);
  }
}

__global__ void dequantizeKernel(QuantizationArgs a) {
  KILN_GRID_STRIDE(i, a.count) {
    const int64_t s = scaleIndex(a, i);
    const float zero = a.zeroPoint ? loadIntegerAs(a.zeroPointType, a.zeroPoint, s) : 0.f;
    // __fmul_rn/__fsub_rn: no contraction into an FMA, so the rounding matches the CPU's two operations.
    const float v = __fmul_rn(__fsub_rn(loadIntegerAs(a.xType, a.x, i), zero), loadFloatAs(a.scaleType, a.scale, s));
    storeFloatAs(a.yType, a.y, i, v);
  }
}

unsigned int blocksFor(int64_t count) {
  const int64_t blocks = (count + 255) / 256;
  return static_cast<unsigned int>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

}  // namespace

cudaError_t launchQuantize(const QuantizationArgs& args, cudaStream_t stream) {
  if (args.count <= 0) return cudaSuccess;
  quantizeKernel<<<blocksFor(args.count), 256, 0, stream>>>(args);
  return cudaGetLastError();
}

cudaError_t launchDequantize(const QuantizationArgs& args, cudaStream_t stream) {
  if (args.count <= 0) return cudaSuccess;
  dequantizeKernel<<<blocksFor(args.count), 256, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

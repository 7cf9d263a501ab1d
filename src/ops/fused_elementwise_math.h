// The float32 formula of every FusedElementwise opcode, shared by the CPU kernel and the CUDA kernel (compiled as
// host+device code under nvcc). They follow the CPU reference kernels of the single ops (elementwise_unary.cpp,
// elementwise.cpp) so a fused float32 chain gives the same values as the unfused one.
#pragma once

#include <math.h>

#include "ops/fused_opcode.h"

#ifdef __CUDACC__
#define KILN_FUSED_FN __host__ __device__ __forceinline__
#else
#define KILN_FUSED_FN inline
#endif

namespace kiln::ops::fused {

KILN_FUSED_FN float sigmoid(float x) {
  // Both branches avoid exp overflow to inf/inf.
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

KILN_FUSED_FN float softplus(float x) { return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x)); }

// NaN-propagating max/min (numpy.maximum semantics, as the CPU Max/Min kernels).
KILN_FUSED_FN float maxOf(float a, float b) { return a != a ? a : (a > b ? a : b); }
KILN_FUSED_FN float minOf(float a, float b) { return a != a ? a : (a < b ? a : b); }

KILN_FUSED_FN float power(float x, float e) {
  // The CPU Pow kernel's exact forms for the exponents decomposed LayerNorm/GELU use.
  if (e == 2.0f) return x * x;
  if (e == 1.0f) return x;
  if (e == 0.5f) return sqrtf(x);
  return powf(x, e);
}

/// Binary opcodes (kAdd..kPow).
KILN_FUSED_FN float binary(FusedOpcode op, float a, float b) {
  switch (op) {
    case FusedOpcode::kAdd: return a + b;
    case FusedOpcode::kSub: return a - b;
    case FusedOpcode::kMul: return a * b;
    case FusedOpcode::kDiv: return a / b;
    case FusedOpcode::kMax: return maxOf(a, b);
    case FusedOpcode::kMin: return minOf(a, b);
    case FusedOpcode::kPow: return power(a, b);
    default: return 0.0f;
  }
}

/// Unary and parameterised opcodes; `p` points at the opcode's first parameter (unused for plain unary ones).
KILN_FUSED_FN float unary(FusedOpcode op, float x, const float* p) {
  switch (op) {
    case FusedOpcode::kRelu: return x > 0.0f ? x : 0.0f;
    case FusedOpcode::kSigmoid: return sigmoid(x);
    case FusedOpcode::kTanh: return tanhf(x);
    case FusedOpcode::kErf: return erff(x);
    case FusedOpcode::kExp: return expf(x);
    case FusedOpcode::kLog: return logf(x);
    case FusedOpcode::kSqrt: return sqrtf(x);
    case FusedOpcode::kReciprocal: return 1.0f / x;
    case FusedOpcode::kAbs: return fabsf(x);
    case FusedOpcode::kNeg: return -x;
    case FusedOpcode::kHardSwish: return x * fminf(1.0f, fmaxf(0.0f, x * (1.0f / 6.0f) + 0.5f));
    case FusedOpcode::kGelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
    case FusedOpcode::kGeluTanh: {
      const float k = 0.79788456080286535588f;  // sqrt(2 / pi)
      return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    case FusedOpcode::kSoftplus: return softplus(x);
    case FusedOpcode::kLeakyRelu: return x < 0.0f ? p[0] * x : x;
    case FusedOpcode::kElu: return x < 0.0f ? p[0] * expm1f(x) : x;
    case FusedOpcode::kHardSigmoid: return fminf(1.0f, fmaxf(0.0f, p[0] * x + p[1]));
    case FusedOpcode::kClip: {
      // ONNX: min(max(x, lo), hi), NaN passes through; lo > hi gives hi.
      const float y = x < p[0] ? p[0] : x;
      return y > p[1] ? p[1] : y;
    }
    default: return 0.0f;
  }
}

KILN_FUSED_FN bool isBinary(FusedOpcode op) { return static_cast<int32_t>(op) <= static_cast<int32_t>(FusedOpcode::kPow); }

}  // namespace kiln::ops::fused

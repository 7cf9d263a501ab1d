// The instruction set of FusedElementwise programs (see fused_elementwise_program.h). Kept free of other includes
// so CUDA device code can use it. The numbers are stored in engine files: never renumber, only append.
#pragma once

#include <cstdint>

namespace kiln::ops {

enum class FusedOpcode : int32_t {
  // binary: f(a, b)
  kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMax = 4, kMin = 5, kPow = 6,
  // unary: f(a)
  kRelu = 7, kSigmoid = 8, kTanh = 9, kErf = 10, kExp = 11, kLog = 12, kSqrt = 13, kReciprocal = 14, kAbs = 15,
  kNeg = 16, kHardSwish = 17, kGelu = 18, kGeluTanh = 19, kSoftplus = 20,
  // one parameter (alpha)
  kLeakyRelu = 21, kElu = 22,
  // two parameters: HardSigmoid (alpha, beta), Clip (min, max)
  kHardSigmoid = 23, kClip = 24,
};
inline constexpr int32_t kFusedOpcodeCount = 25;

// Limits the CUDA kernel's parameter block is sized for; the pass splits longer chains.
inline constexpr int kMaxFusedInputs = 8;
inline constexpr int kMaxFusedInstructions = 32;
inline constexpr int kMaxFusedImmediates = 64;

}  // namespace kiln::ops

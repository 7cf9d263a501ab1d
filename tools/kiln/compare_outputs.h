// Judging an engine's outputs against reference outputs (kiln run --compare / --compareOutputs).
//
// A float output is judged by its error relative to the reference's scale, max|got - ref| / max|ref|, and by the
// cosine similarity of the two tensors, never by an absolute tolerance: an atol of 1e-5 says PASS for an all-zero
// output against a reference of scale 1e-9. A reference that cannot tell right from wrong (all zero, constant,
// or holding NaN/Inf) is DEGENERATE, which is not a pass. Integer and bool outputs must match exactly.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/types.h"

namespace kiln::cli {

/// A float output passes when max|got - ref| <= maxErrorToScale * max|ref| and cosine(got, ref) >= minCosine.
struct Tolerance {
  double maxErrorToScale = 1e-4;
  double minCosine = 0.9999;
  /// "max abs err <= 1e-4 x max|ref| and cosine >= 0.9999".
  std::string describe() const;
};

/// Strict FP32 (TF32 off): error <= 1e-4 of the reference's scale, cosine >= 0.9999.
Tolerance strictFp32Tolerance();
/// FP16, BF16 and TF32 math: error <= 2e-2 of the scale and cosine >= 0.999.
Tolerance reducedPrecisionTolerance();
/// The tolerance for an engine from its "build.precisions" metadata ("fp32,tf32,fp16"): strict unless it may use
/// FP16, BF16 or (on a GPU) TF32 math.
Tolerance toleranceForEngine(const std::string& precisions, DeviceKind device);

enum class Verdict { kPass, kFail, kDegenerate };
const char* verdictName(Verdict verdict);

struct OutputAgreement {
  Verdict verdict = Verdict::kFail;
  bool exact = false;  // integer/bool output, compared element by element
  double maxAbs = 0, maxAbsRef = 0, errorToScale = 0, cosine = 0;
  int64_t mismatches = 0;    // exact comparisons: elements that differ
  int64_t nonFiniteGot = 0;  // NaN/Inf in the engine's output
  int64_t worstIndex = -1;   // flat index of the largest error (or the first mismatch)
  std::string reason;        // why it is FAIL or DEGENERATE; empty for PASS
};

/// Compares one output with its reference (same dtype and shape, checked by the caller).
OutputAgreement judgeOutput(const Tensor& got, const Tensor& ref, const Tolerance& tolerance);

/// "max abs 1.2e-06  max|ref| 3.41  err/scale 3.5e-07  cosine 0.99999999  PASS" (+ the reason when not PASS).
std::string describeAgreement(const OutputAgreement& agreement);

}  // namespace kiln::cli

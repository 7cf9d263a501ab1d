#include "compare_outputs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "cli_support.h"

namespace kiln::cli {
namespace {

// Spread (max - min) below this fraction of max|ref| counts as constant: a few float32 ulps of rounding around
// one value, which a cosine would still call a perfect match for any other near-constant output.
constexpr double kConstantSpread = 1e-6;

bool isFloat(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

std::string number(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

// Cosines live just below 1: they need more digits than errors do.
std::string cosineText(double v) { return number(v, 6); }

OutputAgreement judgeExactly(const Tensor& got, const Tensor& ref) {
  OutputAgreement a;
  a.exact = true;
  const size_t size = dataTypeSize(ref.dtype());
  const auto* pg = static_cast<const unsigned char*>(got.data());
  const auto* pr = static_cast<const unsigned char*>(ref.data());
  for (int64_t i = 0; i < ref.elementCount(); ++i) {
    const bool same = ref.dtype() == DataType::kBool ? (pg[i] != 0) == (pr[i] != 0)
                                                      : std::memcmp(pg + i * size, pr + i * size, size) == 0;
    if (!same && a.mismatches++ == 0) a.worstIndex = i;
  }
  a.verdict = a.mismatches == 0 ? Verdict::kPass : Verdict::kFail;
  if (a.mismatches) a.reason = std::to_string(a.mismatches) + " of " + std::to_string(ref.elementCount()) + " differ";
  return a;
}

}  // namespace

std::string Tolerance::describe() const {
  return "max abs err <= " + number(maxErrorToScale) + " x max|ref| and cosine >= " + cosineText(minCosine);
}

Tolerance strictFp32Tolerance() { return {1e-4, 0.9999}; }
Tolerance reducedPrecisionTolerance() { return {2e-2, 0.999}; }

Tolerance toleranceForEngine(const std::string& precisions, DeviceKind device) {
  auto has = [&](const char* p) {
    return ("," + precisions + ",").find("," + std::string(p) + ",") != std::string::npos;
  };
  const bool reduced = has("fp16") || has("bf16") || has("int8") || (device == DeviceKind::kCuda && has("tf32"));
  return reduced ? reducedPrecisionTolerance() : strictFp32Tolerance();
}

const char* verdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass: return "PASS";
    case Verdict::kFail: return "FAIL";
    case Verdict::kDegenerate: return "DEGENERATE";
  }
  return "?";
}

OutputAgreement judgeOutput(const Tensor& got, const Tensor& ref, const Tolerance& tolerance) {
  if (!isFloat(ref.dtype())) return judgeExactly(got, ref);
  OutputAgreement a;
  const int64_t n = ref.elementCount();
  int64_t nonFiniteRef = 0, firstNonFinite = -1, worstFinite = -1;
  double lo = INFINITY, hi = -INFINITY, dot = 0, normGot = 0, normRef = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = elementAsDouble(got, i), y = elementAsDouble(ref, i);
    if (!std::isfinite(y)) {
      ++nonFiniteRef;
      continue;
    }
    lo = std::min(lo, y), hi = std::max(hi, y);
    a.maxAbsRef = std::max(a.maxAbsRef, std::fabs(y));
    if (!std::isfinite(x)) {
      if (a.nonFiniteGot++ == 0) firstNonFinite = i;
      continue;
    }
    const double diff = std::fabs(x - y);
    if (diff > a.maxAbs || worstFinite < 0) a.maxAbs = diff, worstFinite = i;
    dot += x * y, normGot += x * x, normRef += y * y;
  }
  a.worstIndex = a.nonFiniteGot > 0 ? firstNonFinite : worstFinite;
  // No evidence of agreement when either side is all zero: the cosine is 0, not 1.
  a.cosine = normGot > 0 && normRef > 0 ? dot / (std::sqrt(normGot) * std::sqrt(normRef)) : 0.0;
  a.errorToScale = a.maxAbsRef > 0 ? a.maxAbs / a.maxAbsRef : INFINITY;

  a.verdict = Verdict::kDegenerate;
  if (n == 0) {
    a.reason = "the reference is empty";
  } else if (nonFiniteRef > 0) {
    a.reason = "the reference holds " + std::to_string(nonFiniteRef) + " NaN/Inf value(s)";
  } else if (a.maxAbsRef == 0) {
    a.reason = "the reference is all zero";
  } else if (n > 1 && hi - lo <= kConstantSpread * a.maxAbsRef) {
    a.reason = "the reference is constant (every value " + number(hi) + ")";
  } else if (a.nonFiniteGot > 0) {
    a.verdict = Verdict::kFail;
    a.reason = std::to_string(a.nonFiniteGot) + " NaN/Inf value(s) in the output";
  } else if (a.errorToScale > tolerance.maxErrorToScale) {
    a.verdict = Verdict::kFail;
    a.reason = "max abs err " + number(a.maxAbs) + " > " + number(tolerance.maxErrorToScale) + " x max|ref| " +
               number(a.maxAbsRef);
    if (a.cosine < tolerance.minCosine)
      a.reason += ", cosine " + cosineText(a.cosine) + " < " + cosineText(tolerance.minCosine);
  } else if (a.cosine < tolerance.minCosine) {
    a.verdict = Verdict::kFail;
    a.reason = "cosine " + cosineText(a.cosine) + " < " + cosineText(tolerance.minCosine);
  } else {
    a.verdict = Verdict::kPass;
  }
  if (a.verdict == Verdict::kDegenerate) a.reason += ": a comparison with it proves nothing";
  return a;
}

std::string describeAgreement(const OutputAgreement& a) {
  std::string s;
  if (a.exact) {
    s = a.mismatches ? "exact comparison" : "exact match";
  } else {
    char buf[160];
    std::snprintf(buf, sizeof buf, "max abs %.3g  max|ref| %.3g  err/scale %.3g  cosine %.8f", a.maxAbs, a.maxAbsRef,
                  a.errorToScale, a.cosine);
    s = buf;
  }
  s += "  ";
  s += verdictName(a.verdict);
  if (!a.reason.empty()) s += " (" + a.reason + ")";
  return s;
}

}  // namespace kiln::cli

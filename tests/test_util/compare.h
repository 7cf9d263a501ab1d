// Comparing kiln's outputs with reference outputs: elementwise allclose (numpy/ONNX rule, for the op and
// conformance cases whose expectations carry rtol/atol), error statistics, and the accuracy judgement for whole
// models: error relative to the reference's scale plus cosine similarity, with degenerate references (all zero,
// constant, NaN/Inf) refused rather than passed. Header-only (see tensor_proto_io.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/types.h"

namespace kiln::test {

/// IEEE half -> float (exact).
inline float halfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: scale into a normal float
      float f = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float bfloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline bool isFloatType(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

/// Element i as a double (floats converted exactly; 64-bit integers beyond 2^53 lose precision, so integer
/// tensors are compared bitwise by compareTensors instead).
inline double elementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.dataAs<float>()[i];
    case DataType::kFloat64: return t.dataAs<double>()[i];
    case DataType::kFloat16: return halfToFloat(t.dataAs<uint16_t>()[i]);
    case DataType::kBFloat16: return bfloat16ToFloat(t.dataAs<uint16_t>()[i]);
    case DataType::kInt64: return static_cast<double>(t.dataAs<int64_t>()[i]);
    case DataType::kInt32: return t.dataAs<int32_t>()[i];
    case DataType::kInt16: return t.dataAs<int16_t>()[i];
    case DataType::kInt8: return t.dataAs<int8_t>()[i];
    case DataType::kUInt64: return static_cast<double>(t.dataAs<uint64_t>()[i]);
    case DataType::kUInt32: return t.dataAs<uint32_t>()[i];
    case DataType::kUInt16: return t.dataAs<uint16_t>()[i];
    case DataType::kUInt8: return t.dataAs<uint8_t>()[i];
    case DataType::kBool: return t.dataAs<uint8_t>()[i] ? 1.0 : 0.0;
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

/// "[2, 0, 5]": the multi-index of flat element i in a row-major shape.
inline std::string indexToString(const Dims& dims, int64_t flat) {
  std::vector<int64_t> idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    if (dims[d] > 0) {
      idx[d] = flat % dims[d];
      flat /= dims[d];
    }
  }
  std::ostringstream s;
  s << "[";
  for (size_t d = 0; d < idx.size(); ++d) s << (d ? ", " : "") << idx[d];
  s << "]";
  return s.str();
}

struct ErrorStats {
  double maxAbs = 0, maxRel = 0, maxAbsRef = 0, cosine = 1;
  int64_t worstIndex = -1;  // flat index of the largest absolute error
};

/// Max absolute and relative error (rel = |a-b| / max(|b|, 1e-12)), max |ref| and cosine similarity, in float64.
/// Non-finite pairs are skipped here; compareTensors checks them exactly. The cosine is 0 when either side is all
/// zero: two zero tensors show no agreement, only the absence of a signal.
inline ErrorStats errorStats(const Tensor& actual, const Tensor& expected) {
  ErrorStats s;
  double dot = 0, na = 0, nb = 0;
  const int64_t n = std::min(actual.elementCount(), expected.elementCount());
  for (int64_t i = 0; i < n; ++i) {
    const double a = elementAsDouble(actual, i), b = elementAsDouble(expected, i);
    if (!std::isfinite(a) || !std::isfinite(b)) continue;
    const double err = std::fabs(a - b);
    if (err > s.maxAbs || s.worstIndex < 0) {
      s.maxAbs = err;
      s.worstIndex = i;
    }
    s.maxRel = std::max(s.maxRel, err / std::max(std::fabs(b), 1e-12));
    s.maxAbsRef = std::max(s.maxAbsRef, std::fabs(b));
    dot += a * b;
    na += a * a;
    nb += b * b;
  }
  s.cosine = (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : 0.0;
  return s;
}

struct CompareResult {
  bool ok = true;
  std::string message;  // empty when ok
  ErrorStats stats;
};

/// Checks dtype and shape exactly, then every element: floats pass when |a-b| <= atol + rtol*|b| (numpy's and
/// ONNX's allclose), NaN only matches NaN and an infinity only the same infinity; integers and bools must be equal.
inline CompareResult compareTensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CompareResult r;
  std::ostringstream msg;
  if (actual.dtype() != expected.dtype()) {
    msg << "dtype " << dataTypeName(actual.dtype()) << ", expected " << dataTypeName(expected.dtype());
    return {false, msg.str(), {}};
  }
  if (actual.dims() != expected.dims()) {
    msg << "shape " << dimsToString(actual.dims()) << ", expected " << dimsToString(expected.dims());
    return {false, msg.str(), {}};
  }
  const int64_t n = expected.elementCount();
  if (n > 0 && (actual.data() == nullptr || expected.data() == nullptr)) return {false, "no data", {}};
  r.stats = errorStats(actual, expected);
  int64_t bad = 0, firstBad = -1;
  if (isFloatType(expected.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      const double a = elementAsDouble(actual, i), b = elementAsDouble(expected, i);
      bool good;
      if (std::isnan(b) || std::isnan(a)) good = std::isnan(a) && std::isnan(b);
      else if (std::isinf(b) || std::isinf(a)) good = a == b;
      else good = std::fabs(a - b) <= atol + rtol * std::fabs(b);
      if (!good && bad++ == 0) firstBad = i;
    }
  } else {
    const size_t size = dataTypeSize(expected.dtype());
    const auto* pa = static_cast<const unsigned char*>(actual.data());
    const auto* pb = static_cast<const unsigned char*>(expected.data());
    for (int64_t i = 0; i < n; ++i) {
      const bool good = expected.dtype() == DataType::kBool ? ((pa[i] != 0) == (pb[i] != 0))
                                                             : std::memcmp(pa + i * size, pb + i * size, size) == 0;
      if (!good && bad++ == 0) firstBad = i;
    }
  }
  if (bad == 0) return r;
  r.ok = false;
  msg.precision(9);
  msg << bad << " of " << n << " elements differ (rtol " << rtol << ", atol " << atol << "); first at "
      << indexToString(expected.dims(), firstBad) << ": got " << elementAsDouble(actual, firstBad) << ", expected "
      << elementAsDouble(expected, firstBad) << "; max abs err " << r.stats.maxAbs << ", max rel err "
      << r.stats.maxRel;
  r.message = msg.str();
  return r;
}

/// A whole-model accuracy bound: max|a - b| <= maxErrorToScale * max|ref| and cosine(a, b) >= minCosine.
struct ScaleTolerance {
  double maxErrorToScale;
  double minCosine;
};
/// FP32 with TF32 off: only summation order differs (the bound for deep GPU nets is 1e-3, see its tests).
inline constexpr ScaleTolerance kStrictFp32{1e-4, 0.9999};
/// FP16/BF16 (and TF32) math with FP32 accumulation.
inline constexpr ScaleTolerance kReducedPrecision{2e-2, 0.999};

/// Why `expected` cannot tell a right answer from a wrong one, or "" when it can: empty, holding NaN/Inf, all zero,
/// or constant (spread within 1e-6 of its scale, i.e. float rounding around one value) when it has several elements.
inline std::string degenerateReason(const Tensor& expected) {
  const int64_t n = expected.elementCount();
  if (n == 0 || expected.data() == nullptr) return "the reference is empty";
  double lo = INFINITY, hi = -INFINITY, scale = 0;
  int64_t nonFinite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double b = elementAsDouble(expected, i);
    if (!std::isfinite(b)) {
      ++nonFinite;
      continue;
    }
    lo = std::min(lo, b), hi = std::max(hi, b), scale = std::max(scale, std::fabs(b));
  }
  if (nonFinite) return "the reference holds " + std::to_string(nonFinite) + " NaN/Inf value(s)";
  if (scale == 0) return "the reference is all zero";
  if (n > 1 && hi - lo <= 1e-6 * scale) return "the reference is constant (" + std::to_string(hi) + ")";
  return "";
}

/// The whole-model judgement for float outputs (integer ones must be equal): dtype and shape must match; a
/// degenerate reference fails as DEGENERATE; a NaN/Inf in `actual` fails; then the error relative to the
/// reference's scale and the cosine must both be within `tol`. Never an absolute tolerance: an all-zero output
/// against a reference of scale 1e-9 fails (cosine 0, error 1 x scale).
inline CompareResult compareToScale(const Tensor& actual, const Tensor& expected, ScaleTolerance tol) {
  std::ostringstream msg;
  if (actual.dtype() != expected.dtype() || actual.dims() != expected.dims()) {
    msg << dataTypeName(actual.dtype()) << " " << dimsToString(actual.dims()) << ", expected "
        << dataTypeName(expected.dtype()) << " " << dimsToString(expected.dims());
    return {false, msg.str(), {}};
  }
  if (!isFloatType(expected.dtype())) return compareTensors(actual, expected, 0.0, 0.0);  // integers: exactly
  CompareResult r;
  const std::string degenerate = degenerateReason(expected);
  if (!degenerate.empty()) return {false, "DEGENERATE: " + degenerate + ", so the comparison proves nothing", {}};
  r.stats = errorStats(actual, expected);
  int64_t nonFinite = 0, firstNonFinite = -1;
  for (int64_t i = 0; i < actual.elementCount(); ++i)
    if (!std::isfinite(elementAsDouble(actual, i)) && nonFinite++ == 0) firstNonFinite = i;
  const double errorToScale = r.stats.maxAbs / r.stats.maxAbsRef;
  msg.precision(4);
  if (nonFinite) {
    msg << nonFinite << " NaN/Inf value(s) in the output, first at " << indexToString(actual.dims(), firstNonFinite);
  } else if (errorToScale > tol.maxErrorToScale || !(r.stats.cosine >= tol.minCosine)) {
    msg << "max abs err " << r.stats.maxAbs << " = " << errorToScale << " x max|ref| " << r.stats.maxAbsRef
        << " (bound " << tol.maxErrorToScale << "), worst at " << indexToString(expected.dims(), r.stats.worstIndex)
        << "; cosine " << std::setprecision(8) << r.stats.cosine << " (bound " << tol.minCosine << ")";
  } else {
    return r;
  }
  r.ok = false;
  r.message = msg.str();
  return r;
}

}  // namespace kiln::test

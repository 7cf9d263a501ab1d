// Elementwise kernels: broadcast indexing shared by all, the op picked by a grid-uniform switch. Float16 and
// bfloat16 data is computed in float32; int32 in int64.
#include <cfloat>
#include <climits>
#include <type_traits>

#include "backends/cuda/cuda_device.cuh"
#include "backends/cuda/elementwise.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;
constexpr int kThreads = 256;

__device__ __forceinline__ void offsetsOf(const ElementwiseArgs& a, int64_t i, int64_t* off) {
  off[0] = off[1] = off[2] = 0;
  if (a.sameShape) {
    off[0] = off[1] = off[2] = i;
    return;
  }
  for (int k = a.rank - 1; k >= 0; --k) {
    const int64_t idx = i % a.dims[k];
    i /= a.dims[k];
    off[0] += idx * a.strides[0][k];
    off[1] += idx * a.strides[1][k];
    off[2] += idx * a.strides[2][k];
  }
}

/// ONNX Clip is min(max(x, lo), hi): when lo > hi every output is hi. NaN stays NaN.
template <typename C> __device__ __forceinline__ C clipMath(C x, C lo, C hi) {
  const C raised = x < lo ? lo : x;
  return raised > hi ? hi : raised;
}

/// Integer base to an integer power, exact (squaring, wrapping in uint64). The result matches the CPU kernel's
/// truncated double pow: results outside +-9.2e18 give 0, negative exponents give 1/x^n truncated (0 unless |x|==1).
__device__ __forceinline__ int64_t integerPow(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exponent & 1) ? -1 : 1;
    return 0;  // 0^-n is inf (out of range -> 0); |x|>=2 truncates to 0
  }
  const double approx = pow(static_cast<double>(base), static_cast<double>(exponent));
  if (!(approx > -9.2e18 && approx < 9.2e18)) return 0;
  uint64_t result = 1, factor = static_cast<uint64_t>(base);
  for (uint64_t e = static_cast<uint64_t>(exponent); e != 0; e >>= 1) {
    if (e & 1) result *= factor;
    factor *= factor;
  }
  return static_cast<int64_t>(result);
}

/// Float to integer as the CPU backend (and onnxruntime on x86): truncation toward zero through int64, NaN and
/// values outside int64 give int64's lowest, then narrower types wrap modulo 2^bits; int32 saturates to its lowest
/// outside its range (a direct 32-bit conversion).
template <typename To> __device__ __forceinline__ To floatToInteger(double x) {
  constexpr double limit = 9223372036854775808.0;  // 2^63
  int64_t wide = LLONG_MIN;
  if (x > -limit && x < limit) wide = static_cast<int64_t>(x);
  if constexpr (std::is_same_v<To, int32_t>) {
    if (!(x > -2147483649.0 && x < 2147483648.0)) return INT_MIN;
  }
  return static_cast<To>(wide);
}

template <typename C> __device__ C unaryMath(const ElementwiseArgs& a, C x, C lo, C hi) {
  if constexpr (std::is_floating_point_v<C>) {
    const C alpha = a.alpha, beta = a.beta, gamma = a.gamma;
    switch (a.op) {
      case OpKind::kRelu: return x > C(0) ? x : C(0);
      case OpKind::kSigmoid: return C(1) / (C(1) + exp(-x));
      case OpKind::kTanh: return tanh(x);
      case OpKind::kErf: return erf(x);
      case OpKind::kExp: return exp(x);
      case OpKind::kLog: return log(x);
      case OpKind::kSqrt: return sqrt(x);
      case OpKind::kReciprocal: return C(1) / x;
      case OpKind::kAbs: return fabs(x);
      case OpKind::kNeg: return -x;
      case OpKind::kHardSigmoid: return fmax(C(0), fmin(C(1), alpha * x + beta));
      case OpKind::kHardSwish: return x * fmax(C(0), fmin(C(1), x / C(6) + C(0.5)));
      case OpKind::kLeakyRelu: return x >= C(0) ? x : alpha * x;
      case OpKind::kGelu:
        if (a.flag == 1) {
          const C k = C(0.7978845608028654);  // sqrt(2/pi)
          return C(0.5) * x * (C(1) + tanh(k * (x + C(0.044715) * x * x * x)));
        }
        return C(0.5) * x * (C(1) + erf(x * C(0.7071067811865476)));
      case OpKind::kClip: return clipMath(x, lo, hi);
      case OpKind::kElu: return x >= C(0) ? x : alpha * (exp(x) - C(1));
      case OpKind::kSelu: return x > C(0) ? gamma * x : gamma * (alpha * exp(x) - alpha);
      case OpKind::kCelu: return fmax(C(0), x) + fmin(C(0), alpha * (exp(x / alpha) - C(1)));
      case OpKind::kSoftplus: return x > C(20) ? x : log1p(exp(x));
      case OpKind::kSoftsign: return x / (C(1) + fabs(x));
      case OpKind::kMish: return x * tanh(x > C(20) ? x : log1p(exp(x)));
      case OpKind::kThresholdedRelu: return x > alpha ? x : C(0);
      case OpKind::kCeil: return ceil(x);
      case OpKind::kFloor: return floor(x);
      case OpKind::kRound: return rint(x);  // half to even, as ONNX asks
      case OpKind::kSign: return x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0));
      case OpKind::kSin: return sin(x);
      case OpKind::kCos: return cos(x);
      case OpKind::kTan: return tan(x);
      case OpKind::kAsin: return asin(x);
      case OpKind::kAcos: return acos(x);
      case OpKind::kAtan: return atan(x);
      case OpKind::kSinh: return sinh(x);
      case OpKind::kCosh: return cosh(x);
      case OpKind::kAsinh: return asinh(x);
      case OpKind::kAcosh: return acosh(x);
      case OpKind::kAtanh: return atanh(x);
      case OpKind::kShrink: return x < -alpha ? x + beta : (x > alpha ? x - beta : C(0));  // alpha=lambd, beta=bias
      case OpKind::kSwish: return x / (C(1) + exp(-alpha * x));
      case OpKind::kMean: return x * alpha;  // the last step of Mean: the sum times 1/n
      default: return x;
    }
  } else if constexpr (std::is_same_v<C, bool>) {
    return a.op == OpKind::kNot ? !x : x;
  } else {
    bool negative = false;
    if constexpr (std::is_signed_v<C>) negative = x < 0;
    switch (a.op) {
      case OpKind::kRelu: return x > 0 ? x : 0;
      case OpKind::kAbs: return negative ? -x : x;
      case OpKind::kNeg: return -x;
      case OpKind::kSign: return x > 0 ? 1 : (negative ? C(-1) : C(0));
      case OpKind::kClip: return clipMath(x, lo, hi);
      default: return x;
    }
  }
}

/// Integer + - * wrap around (two's complement) instead of overflowing, as the CPU backend does.
template <typename C> __device__ __forceinline__ C wrap(OpKind op, C x, C y) {
  using U = std::make_unsigned_t<C>;
  const U ux = static_cast<U>(x), uy = static_cast<U>(y);
  return static_cast<C>(op == OpKind::kAdd ? ux + uy : (op == OpKind::kSub ? ux - uy : ux * uy));
}

template <typename C> __device__ C binaryMath(OpKind op, int32_t flag, C x, C y) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
      case OpKind::kAdd: case OpKind::kSum: return x + y;
      case OpKind::kSub: return x - y;
      case OpKind::kMul: return x * y;
      case OpKind::kMax: return (x != x || x > y) ? x : y;  // NaN propagates, as numpy.maximum
      case OpKind::kMin: return (x != x || x < y) ? x : y;
      case OpKind::kDiv: return x / y;
      case OpKind::kPow: return pow(x, y);
      case OpKind::kMod: {
        C r = fmod(x, y);
        if (flag == 0 && r != C(0) && ((r < C(0)) != (y < C(0)))) r += y;  // fmod=0: the sign follows the divisor
        return r;
      }
      case OpKind::kPRelu: return x < C(0) ? x * y : x;
      default: return x;
    }
  } else {
    switch (op) {
      case OpKind::kAdd: case OpKind::kSum: return wrap(OpKind::kAdd, x, y);
      case OpKind::kSub: return wrap(OpKind::kSub, x, y);
      case OpKind::kMul: return wrap(OpKind::kMul, x, y);
      case OpKind::kMax: return x > y ? x : y;
      case OpKind::kMin: return x < y ? x : y;
      case OpKind::kDiv:
        // Truncates toward zero as ONNX does for integers. A zero divisor gives 0 (the CPU backend reports it; a
        // kernel cannot), and MIN / -1 wraps instead of trapping.
        if (y == 0) return C(0);
        if constexpr (std::is_signed_v<C>)
          if (y == C(-1)) return wrap(OpKind::kSub, C(0), x);
        return x / y;
      case OpKind::kPow:
        if constexpr (std::is_signed_v<C>) return static_cast<C>(integerPow(x, y));
        else return static_cast<C>(integerPow(static_cast<int64_t>(x), static_cast<int64_t>(y)));
      case OpKind::kMod: {
        if (y == 0) return C(0);
        if constexpr (std::is_signed_v<C>)
          if (y == C(-1)) return C(0);
        C r = x % y;
        if constexpr (std::is_signed_v<C>)
          if (flag == 0 && r != 0 && ((r < 0) != (y < 0))) r += y;  // fmod=0: the sign follows the divisor
        return r;
      }
      case OpKind::kPRelu:
        if constexpr (std::is_signed_v<C>)
          if (x < 0) return wrap(OpKind::kMul, x, y);
        return x;
      default: return x;
    }
  }
}

/// Bit operations in T's own width: shifts by >= the width (or negative) shift every bit out.
template <typename T> __device__ T bitwiseMath(OpKind op, bool left, T x, T y) {
  switch (op) {
    case OpKind::kBitwiseAnd: return static_cast<T>(x & y);
    case OpKind::kBitwiseOr: return static_cast<T>(x | y);
    case OpKind::kBitwiseXor: return static_cast<T>(x ^ y);
    case OpKind::kBitwiseNot: return static_cast<T>(~x);
    default: break;
  }
  bool outOfRange = static_cast<uint64_t>(y) >= sizeof(T) * 8;
  if constexpr (std::is_signed_v<T>) outOfRange = outOfRange || y < 0;
  if (left) {
    using U = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;
    return outOfRange ? T(0) : static_cast<T>(static_cast<U>(static_cast<std::make_unsigned_t<T>>(x)) << y);
  }
  if (outOfRange) {
    if constexpr (std::is_signed_v<T>) return x < 0 ? T(-1) : T(0);
    return T(0);
  }
  return static_cast<T>(x >> y);  // arithmetic for signed types
}

template <typename C> __device__ bool compareMath(OpKind op, C x, C y) {
  switch (op) {
    case OpKind::kEqual: return x == y;
    case OpKind::kGreater: return x > y;
    case OpKind::kGreaterOrEqual: return x >= y;
    case OpKind::kLess: return x < y;
    case OpKind::kLessOrEqual: return x <= y;
    case OpKind::kAnd: return static_cast<bool>(x) && static_cast<bool>(y);
    case OpKind::kOr: return static_cast<bool>(x) || static_cast<bool>(y);
    case OpKind::kXor: return static_cast<bool>(x) != static_cast<bool>(y);
    default: return false;
  }
}

template <typename C> __device__ C lowest() {
  if constexpr (std::is_same_v<C, float>) return -FLT_MAX * 2.f;  // -inf
  else if constexpr (std::is_same_v<C, double>) return -DBL_MAX * 2.0;
  else if constexpr (std::is_unsigned_v<C>) return C(0);
  else return static_cast<C>(LLONG_MIN);
}
template <typename C> __device__ C highest() {
  if constexpr (std::is_same_v<C, float>) return FLT_MAX * 2.f;
  else if constexpr (std::is_same_v<C, double>) return DBL_MAX * 2.0;
  else if constexpr (std::is_unsigned_v<C>) return static_cast<C>(~C(0));
  else return static_cast<C>(LLONG_MAX);
}

template <typename T> __global__ void unaryKernel(ElementwiseArgs a) {
  using C = Compute<T>;
  const T* in = static_cast<const T*>(a.inputs[0]);
  T* out = static_cast<T*>(a.output);
  C lo{}, hi{};
  if constexpr (!std::is_same_v<C, bool>) {
    lo = a.clipMin ? load(static_cast<const T*>(a.clipMin), 0) : lowest<C>();
    hi = a.clipMax ? load(static_cast<const T*>(a.clipMax), 0) : highest<C>();
  }
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    store(out, i, unaryMath<C>(a, load(in, off[0]), lo, hi));
  }
}

template <typename T> __global__ void predicateKernel(ElementwiseArgs a) {
  const T* in = static_cast<const T*>(a.inputs[0]);
  bool* out = static_cast<bool*>(a.output);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    const float x = convert<float>(in[off[0]]);
    bool r;
    if (a.op == OpKind::kIsNaN) r = isnan(x);
    else r = isinf(x) && ((x < 0.f && (a.flag & 1)) || (x > 0.f && (a.flag & 2)));
    out[i] = r;
  }
}

template <typename T> __global__ void binaryKernel(ElementwiseArgs a) {
  using C = Compute<T>;
  const T* x = static_cast<const T*>(a.inputs[0]);
  const T* y = static_cast<const T*>(a.inputs[1]);
  T* out = static_cast<T*>(a.output);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    store(out, i, binaryMath<C>(a.op, a.flag, load(x, off[0]), load(y, off[1])));
  }
}

/// Sum, Mean, Max or Min of 2 or 3 broadcast inputs in one pass: the compute type holds the running value (float32
/// for float16/bfloat16), so the output is rounded once; Mean then scales by alpha = 1/n.
template <typename T> __global__ void variadicKernel(ElementwiseArgs a) {
  using C = Compute<T>;
  const OpKind op = a.op == OpKind::kMean ? OpKind::kSum : a.op;
  const T* x = static_cast<const T*>(a.inputs[0]);
  const T* y = static_cast<const T*>(a.inputs[1]);
  const T* z = static_cast<const T*>(a.inputs[2]);
  T* out = static_cast<T*>(a.output);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    C v = binaryMath<C>(op, 0, load(x, off[0]), load(y, off[1]));
    if (a.inputCount == 3) v = binaryMath<C>(op, 0, v, load(z, off[2]));
    if constexpr (std::is_floating_point_v<C>)
      if (a.op == OpKind::kMean) v *= static_cast<C>(a.alpha);
    store(out, i, v);
  }
}

template <typename T> __global__ void bitwiseKernel(ElementwiseArgs a) {
  const T* x = static_cast<const T*>(a.inputs[0]);
  const T* y = static_cast<const T*>(a.inputs[1]);
  T* out = static_cast<T*>(a.output);
  const bool unary = a.inputCount == 1, left = a.flag == 1;
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    out[i] = bitwiseMath<T>(a.op, left, x[off[0]], unary ? T(0) : y[off[1]]);
  }
}

/// Pow with an exponent of another type: float32 bases compute in float (double for non-float exponents), the rest
/// in double, then convert to the base's type (integers truncate).
template <typename TB, typename TE> __global__ void powKernel(ElementwiseArgs a) {
  const TB* x = static_cast<const TB*>(a.inputs[0]);
  const TE* y = static_cast<const TE*>(a.inputs[1]);
  TB* out = static_cast<TB*>(a.output);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    const double e = static_cast<double>(load(y, off[1]));
    const double b = static_cast<double>(load(x, off[0]));
    if constexpr (std::is_same_v<TB, float>) {
      out[i] = std::is_same_v<TE, float> ? powf(x[off[0]], static_cast<float>(e)) : static_cast<float>(pow(b, e));
    } else if constexpr (std::is_integral_v<TB> && std::is_integral_v<TE>) {
      const int64_t base = static_cast<int64_t>(x[off[0]]);
      if constexpr (std::is_same_v<TE, uint64_t>) {
        // Beyond int64: the CPU's double pow gives 1 for bases 1 and -1 (such exponents are even in double), 0 for
        // base 0, and an out-of-range result (-> 0) for every other base.
        if (y[off[1]] > static_cast<uint64_t>(INT64_MAX)) {
          out[i] = static_cast<TB>(base == 1 || base == -1 ? 1 : 0);
          continue;
        }
      }
      out[i] = static_cast<TB>(integerPow(base, static_cast<int64_t>(y[off[1]])));
    } else if constexpr (std::is_integral_v<TB>) {
      const double r = pow(b, e);
      out[i] = (r > -9.2e18 && r < 9.2e18) ? static_cast<TB>(static_cast<int64_t>(r)) : TB(0);
    } else {
      store(out, i, static_cast<Compute<TB>>(pow(b, e)));
    }
  }
}

template <typename T> __global__ void compareKernel(ElementwiseArgs a) {
  using C = Compute<T>;
  const T* x = static_cast<const T*>(a.inputs[0]);
  const T* y = static_cast<const T*>(a.inputs[1]);
  bool* out = static_cast<bool*>(a.output);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    out[i] = compareMath<C>(a.op, load(x, off[0]), load(y, off[1]));
  }
}

template <typename W> __global__ void whereKernel(ElementwiseArgs a) {
  const bool* condition = static_cast<const bool*>(a.inputs[0]);
  const W* x = static_cast<const W*>(a.inputs[1]);
  const W* y = static_cast<const W*>(a.inputs[2]);
  W* out = static_cast<W*>(a.output);
  KILN_GRID_STRIDE(i, a.count) {
    int64_t off[3];
    offsetsOf(a, i, off);
    out[i] = condition[off[0]] ? x[off[1]] : y[off[2]];
  }
}

template <typename From, typename To> __global__ void castKernel(const From* in, To* out, int64_t count) {
  KILN_GRID_STRIDE(i, count) {
    if constexpr (std::is_same_v<To, bool>) {
      out[i] = convert<float>(in[i]) != 0.f;
    } else if constexpr (std::is_integral_v<To> &&
                         (std::is_same_v<From, __half> || std::is_same_v<From, __nv_bfloat16>)) {
      out[i] = floatToInteger<To>(static_cast<double>(convert<float>(in[i])));
    } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
      out[i] = floatToInteger<To>(static_cast<double>(in[i]));
    } else if constexpr (std::is_same_v<From, __half> || std::is_same_v<From, __nv_bfloat16>) {
      out[i] = convert<To>(convert<float>(in[i]));
    } else if constexpr (std::is_same_v<To, __half> || std::is_same_v<To, __nv_bfloat16>) {
      out[i] = convert<To>(static_cast<float>(in[i]));
    } else {
      out[i] = static_cast<To>(in[i]);
    }
  }
}

/// Calls f(T{}) with the C++ type of `t`; false for types without kernels.
template <typename F> bool dispatchAny(DataType t, F&& f) {
  if (t == DataType::kBool) {
    f(bool{});
    return true;
  }
  return dispatchNumericOrBFloat16(t, f);
}

/// The types arithmetic kernels are instantiated for: every numeric type, bfloat16 included.
template <typename F> bool dispatchArithmetic(DataType t, F&& f) { return dispatchNumericOrBFloat16(t, f); }

bool isBitwise(OpKind op) {
  return op == OpKind::kBitShift || op == OpKind::kBitwiseAnd || op == OpKind::kBitwiseOr ||
         op == OpKind::kBitwiseXor || op == OpKind::kBitwiseNot;
}

bool isComparison(OpKind op) {
  return op == OpKind::kEqual || op == OpKind::kGreater || op == OpKind::kGreaterOrEqual || op == OpKind::kLess ||
         op == OpKind::kLessOrEqual || op == OpKind::kAnd || op == OpKind::kOr || op == OpKind::kXor;
}

}  // namespace

bool castSupported(DataType t) {
  return dispatchAny(t, [](auto) {});
}

cudaError_t launchElementwise(const ElementwiseArgs& a, DataType inType, DataType outType, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  const unsigned grid = gridFor(a.count, kThreads);
  bool launched = false;
  if (a.op == OpKind::kWhere) {
    switch (dataTypeSize(inType)) {
      case 1: whereKernel<uint8_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case 2: whereKernel<uint16_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case 4: whereKernel<uint32_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case 8: whereKernel<uint64_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      default: break;
    }
  } else if (isComparison(a.op)) {
    if (outType != DataType::kBool) return cudaErrorInvalidValue;
    if (inType == DataType::kBool) {
      compareKernel<bool><<<grid, kThreads, 0, stream>>>(a);
      launched = true;
    } else {
      launched = dispatchArithmetic(inType, [&](auto t) { compareKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a); });
    }
  } else if (a.op == OpKind::kIsNaN || a.op == OpKind::kIsInf) {
    launched = dispatchFloatOrBFloat16(inType,
                                       [&](auto t) { predicateKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a); });
  } else if (isBitwise(a.op)) {
    if (inType != outType) return cudaErrorInvalidValue;
    launched = dispatchInteger(inType, [&](auto t) { bitwiseKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a); });
  } else if (a.op == OpKind::kNot) {
    if (inType != DataType::kBool) return cudaErrorInvalidValue;
    unaryKernel<bool><<<grid, kThreads, 0, stream>>>(a);
    launched = true;
  } else if (a.inputCount == 1) {
    if (inType != outType) return cudaErrorInvalidValue;
    launched = dispatchArithmetic(inType, [&](auto t) { unaryKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a); });
  } else if (a.op == OpKind::kSum || a.op == OpKind::kMean || a.op == OpKind::kMax || a.op == OpKind::kMin) {
    if (inType != outType) return cudaErrorInvalidValue;
    launched =
        dispatchArithmetic(inType, [&](auto t) { variadicKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a); });
  } else {
    if (inType != outType) return cudaErrorInvalidValue;
    launched = dispatchArithmetic(inType, [&](auto t) { binaryKernel<decltype(t)><<<grid, kThreads, 0, stream>>>(a); });
  }
  return launched ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchPow(const ElementwiseArgs& a, DataType baseType, DataType exponentType, cudaStream_t stream) {
  if (a.count == 0) return cudaSuccess;
  const unsigned grid = gridFor(a.count, kThreads);
  bool launched = false;
  const auto withExponent = [&](auto b) {
    using TB = decltype(b);
    switch (exponentType) {
      case DataType::kFloat32: powKernel<TB, float><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kFloat64: powKernel<TB, double><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kInt64: powKernel<TB, int64_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kInt32: powKernel<TB, int32_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kInt16: powKernel<TB, int16_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kInt8: powKernel<TB, int8_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kUInt64: powKernel<TB, uint64_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kUInt32: powKernel<TB, uint32_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kUInt16: powKernel<TB, uint16_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kUInt8: powKernel<TB, uint8_t><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kFloat16: powKernel<TB, __half><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      case DataType::kBFloat16: powKernel<TB, __nv_bfloat16><<<grid, kThreads, 0, stream>>>(a); launched = true; break;
      default: break;
    }
  };
  switch (baseType) {
    case DataType::kFloat32: withExponent(float{}); break;
    case DataType::kFloat16: withExponent(__half{}); break;
    case DataType::kBFloat16: withExponent(__nv_bfloat16{}); break;
    case DataType::kFloat64: withExponent(double{}); break;
    case DataType::kInt64: withExponent(int64_t{}); break;
    case DataType::kInt32: withExponent(int32_t{}); break;
    default: break;
  }
  return launched ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchCast(const void* in, DataType inType, void* out, DataType outType, int64_t count,
                       cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const unsigned grid = gridFor(count, kThreads);
  bool launched = false;
  dispatchAny(inType, [&](auto from) {
    using From = decltype(from);
    launched = dispatchAny(outType, [&](auto to) {
      using To = decltype(to);
      castKernel<From, To><<<grid, kThreads, 0, stream>>>(static_cast<const From*>(in), static_cast<To*>(out), count);
    });
  });
  return launched ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::backends::cuda

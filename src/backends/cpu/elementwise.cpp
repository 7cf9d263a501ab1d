// CPU elementwise kernels, part 1: dispatch, broadcasting binary ops, variadic Max/Min, comparisons, logic, Where.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/elementwise_kernels.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

/// Integer Div/Mod by zero would trap; report it instead (onnxruntime crashes on it).
template <typename T>
Status checkNoZeroDivisor(const KernelCall& call, const DeviceTensor& divisor) {
  if constexpr (std::is_integral_v<T>) {
    const T* p = static_cast<const T*>(divisor.data);
    const int64_t n = divisor.elementCount();
    for (int64_t i = 0; i < n; ++i)
      if (p[i] == 0)
        return invalidArgument(call.where() + "input 1 (divisor) has a zero at flat index " + std::to_string(i) +
                               "; integer division by zero is undefined");
  }
  return Status::ok();
}

/// Truncating integer division (C semantics, as onnxruntime); INT_MIN / -1 wraps instead of trapping.
template <typename T>
inline T divide(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return b == -1 ? wrappingSub<T>(0, a) : static_cast<T>(a / b);
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(a / b);
  } else {
    return a / b;
  }
}

/// Remainder with the sign of the dividend (C fmod / %).
template <typename T>
inline T truncatedMod(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_signed_v<T>)
      if (b == -1) return T(0);
    return static_cast<T>(a % b);
  } else if constexpr (std::is_same_v<T, Half>) {
    return static_cast<Half>(std::fmod(static_cast<float>(a), static_cast<float>(b)));
  } else {
    return std::fmod(a, b);
  }
}

/// Remainder with the sign of the divisor (Python %, ONNX Mod with fmod=0 on integers).
template <typename T>
inline T flooredMod(T a, T b) {
  T r = truncatedMod(a, b);
  if constexpr (std::is_signed_v<T> || isFloatLike<T>)
    if (r != T(0) && ((r < T(0)) != (b < T(0)))) r = static_cast<T>(r + b);
  return r;
}

// NaN-propagating max/min (numpy.maximum semantics).
template <typename T>
inline T maxOf(T a, T b) {
  if constexpr (isFloatLike<T>) {
    if (a != a) return a;
  }
  return a > b ? a : b;
}
template <typename T>
inline T minOf(T a, T b) {
  if constexpr (isFloatLike<T>) {
    if (a != a) return a;
  }
  return a < b ? a : b;
}

template <typename T>
Status runArithmetic(const KernelCall& call) {
  const auto& a = call.inputs[0];
  const auto& b = call.inputs[1];
  const auto& o = call.outputs[0];
  switch (call.node.op) {
    case OpKind::kAdd: broadcastBinary<T, T, T>(a, b, o, [](T x, T y) { return wrappingAdd(x, y); }); break;
    case OpKind::kSub: broadcastBinary<T, T, T>(a, b, o, [](T x, T y) { return wrappingSub(x, y); }); break;
    case OpKind::kMul: broadcastBinary<T, T, T>(a, b, o, [](T x, T y) { return wrappingMul(x, y); }); break;
    case OpKind::kDiv:
      KILN_RETURN_IF_ERROR(checkNoZeroDivisor<T>(call, b));
      broadcastBinary<T, T, T>(a, b, o, [](T x, T y) { return divide(x, y); });
      break;
    case OpKind::kMod:
      KILN_RETURN_IF_ERROR(checkNoZeroDivisor<T>(call, b));
      if (call.node.attrs.getInt("fmod", 0) == 1)
        broadcastBinary<T, T, T>(a, b, o, [](T x, T y) { return truncatedMod(x, y); });
      else
        broadcastBinary<T, T, T>(a, b, o, [](T x, T y) { return flooredMod(x, y); });
      break;
    case OpKind::kPRelu:
      broadcastBinary<T, T, T>(a, b, o, [](T x, T slope) { return x < T(0) ? wrappingMul(x, slope) : x; });
      break;
    default: return internalError(call.where() + "not an arithmetic op");
  }
  return Status::ok();
}

template <typename TE>
Status runPowWithExponent(const KernelCall& call) {
  const auto& a = call.inputs[0];
  const auto& b = call.inputs[1];
  const auto& o = call.outputs[0];
  // Pow(x, 2) and Pow(x, 0.5) appear in decomposed LayerNorm/GELU: exact cheaper forms.
  if (b.elementCount() == 1) {
    const double e = static_cast<double>(*static_cast<const TE*>(b.data));
    if (e == 2.0) {
      unaryMap<float, float>(a, o, [](float x) { return x * x; });
      return Status::ok();
    }
    if (e == 1.0) {
      unaryMap<float, float>(a, o, [](float x) { return x; });
      return Status::ok();
    }
    if (e == 0.5) {
      unaryMap<float, float>(a, o, [](float x) { return std::sqrt(x); });
      return Status::ok();
    }
  }
  if constexpr (std::is_same_v<TE, float>) {
    broadcastBinary<float, TE, float>(a, b, o, [](float x, TE y) { return std::pow(x, y); });
  } else {
    broadcastBinary<float, TE, float>(
        a, b, o, [](float x, TE y) { return static_cast<float>(std::pow(double(x), double(y))); });
  }
  return Status::ok();
}

/// Non-float32 bases: computed in double and converted to the base's type (numpy's power then astype).
template <typename TB, typename TE>
Status runPowGeneric(const KernelCall& call) {
  broadcastBinary<TB, TE, TB>(call.inputs[0], call.inputs[1], call.outputs[0], [](TB x, TE y) {
    const double r = std::pow(static_cast<double>(x), static_cast<double>(y));
    if constexpr (std::is_integral_v<TB>) {
      // Truncation like a C cast; out-of-range results are undefined in ONNX, keep them defined here.
      if (!(r > -9.2e18 && r < 9.2e18)) return TB(0);
      return static_cast<TB>(static_cast<int64_t>(r));
    } else {
      return static_cast<TB>(r);
    }
  });
  return Status::ok();
}

Status runPow(const KernelCall& call) {
  const DataType base = call.inputs[0].dtype;
  return withAnyNumericType(call, call.inputs[1].dtype, [&](auto expTag) -> Status {
    using TE = decltype(expTag);
    switch (base) {
      case DataType::kFloat32: return runPowWithExponent<TE>(call);
      case DataType::kFloat64: return runPowGeneric<double, TE>(call);
      case DataType::kFloat16: return runPowGeneric<Half, TE>(call);
      case DataType::kInt64: return runPowGeneric<int64_t, TE>(call);
      case DataType::kInt32: return runPowGeneric<int32_t, TE>(call);
      default: return unsupported(call.where() + "Pow base dtype " + dataTypeName(base));
    }
  });
}

/// Max, Min, Sum and Mean over >= 1 broadcast inputs.
template <typename T>
Status runVariadic(const KernelCall& call) {
  const auto& o = call.outputs[0];
  const OpKind op = call.node.op;
  if (call.inputs.size() == 1) {
    broadcastCopy<T>(call.inputs[0], o);
  } else {
    // Fold left: out = op(in0, in1), then out = op(out, in_k); reading and writing out at the same index is safe.
    for (size_t k = 1; k < call.inputs.size(); ++k) {
      const DeviceTensor& lhs = k == 1 ? call.inputs[0] : o;
      if (op == OpKind::kMax)
        broadcastBinary<T, T, T>(lhs, call.inputs[k], o, [](T x, T y) { return maxOf(x, y); });
      else if (op == OpKind::kMin)
        broadcastBinary<T, T, T>(lhs, call.inputs[k], o, [](T x, T y) { return minOf(x, y); });
      else
        broadcastBinary<T, T, T>(lhs, call.inputs[k], o, [](T x, T y) { return wrappingAdd(x, y); });
    }
  }
  if (op == OpKind::kMean) {
    if constexpr (isFloatLike<T>) {
      const T n = static_cast<T>(call.inputs.size());
      unaryMap<T, T>(o, o, [n](T x) { return static_cast<T>(x / n); });
    } else {
      return unsupported(call.where() + "Mean on integer dtype " + dataTypeName(o.dtype));
    }
  }
  return Status::ok();
}

template <typename T>
Status runCompare(const KernelCall& call) {
  const auto& a = call.inputs[0];
  const auto& b = call.inputs[1];
  const auto& o = call.outputs[0];
  using B = uint8_t;
  switch (call.node.op) {
    case OpKind::kEqual: broadcastBinary<T, T, B>(a, b, o, [](T x, T y) { return B(x == y); }); break;
    case OpKind::kGreater: broadcastBinary<T, T, B>(a, b, o, [](T x, T y) { return B(x > y); }); break;
    case OpKind::kGreaterOrEqual: broadcastBinary<T, T, B>(a, b, o, [](T x, T y) { return B(x >= y); }); break;
    case OpKind::kLess: broadcastBinary<T, T, B>(a, b, o, [](T x, T y) { return B(x < y); }); break;
    case OpKind::kLessOrEqual: broadcastBinary<T, T, B>(a, b, o, [](T x, T y) { return B(x <= y); }); break;
    default: return internalError(call.where() + "not a comparison");
  }
  return Status::ok();
}

Status runLogic(const KernelCall& call) {
  const auto& a = call.inputs[0];
  const auto& b = call.inputs[1];
  const auto& o = call.outputs[0];
  using B = uint8_t;
  switch (call.node.op) {
    case OpKind::kAnd: broadcastBinary<B, B, B>(a, b, o, [](B x, B y) { return B((x != 0) & (y != 0)); }); break;
    case OpKind::kOr: broadcastBinary<B, B, B>(a, b, o, [](B x, B y) { return B((x != 0) | (y != 0)); }); break;
    case OpKind::kXor: broadcastBinary<B, B, B>(a, b, o, [](B x, B y) { return B((x != 0) ^ (y != 0)); }); break;
    default: return internalError(call.where() + "not a logical op");
  }
  return Status::ok();
}

/// Where only moves elements, so it dispatches on the element size.
template <typename T>
void selectWhere(const KernelCall& call) {
  const auto& c = call.inputs[0];
  const auto& x = call.inputs[1];
  const auto& y = call.inputs[2];
  const auto& o = call.outputs[0];
  const Dims shapes[3] = {c.dims, x.dims, y.dims};
  const ops::BroadcastPlan plan(std::span<const Dims>(shapes, 3), o.dims);
  const auto* pc0 = static_cast<const uint8_t*>(c.data);
  const T* px0 = static_cast<const T*>(x.data);
  const T* py0 = static_cast<const T*>(y.data);
  T* po0 = static_cast<T*>(o.data);
  const int64_t sc = plan.innerStride(0), sx = plan.innerStride(1), sy = plan.innerStride(2);
  ops::parallelForRange(plan.totalElements(), ops::kParallelGrain, [&](int64_t begin, int64_t end) {
    plan.forEachSpan(begin, end, [&](int64_t outOffset, std::span<const int64_t> off, int64_t n) {
      const uint8_t* pc = pc0 + off[0];
      const T* px = px0 + off[1];
      const T* py = py0 + off[2];
      T* po = po0 + outOffset;
      if (sc && sx && sy) {
        for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? px[i] : py[i];
      } else {
        for (int64_t i = 0; i < n; ++i) po[i] = pc[i * sc] ? px[i * sx] : py[i * sy];
      }
    });
  });
}

Status runWhere(const KernelCall& call) {
  switch (dataTypeSize(call.outputs[0].dtype)) {
    case 1: selectWhere<uint8_t>(call); return Status::ok();
    case 2: selectWhere<uint16_t>(call); return Status::ok();
    case 4: selectWhere<uint32_t>(call); return Status::ok();
    case 8: selectWhere<uint64_t>(call); return Status::ok();
    default: return unsupported(call.where() + "Where on dtype " + dataTypeName(call.outputs[0].dtype));
  }
}

Status checkArity(const KernelCall& call, size_t inputs) {
  if (call.inputs.size() < inputs || call.outputs.size() != 1)
    return internalError(call.where() + "expected " + std::to_string(inputs) + " inputs and 1 output, got " +
                         std::to_string(call.inputs.size()) + " and " + std::to_string(call.outputs.size()));
  for (size_t i = 0; i < inputs; ++i)
    if (!call.inputs[i].present() || (call.inputs[i].data == nullptr && call.inputs[i].elementCount() != 0))
      return internalError(call.where() + "input " + std::to_string(i) + " has no data");
  return Status::ok();
}

}  // namespace

Status runElementwise(const KernelCall& call) {
  const OpKind op = call.node.op;
  if (call.outputs.size() != 1) return internalError(call.where() + "expected 1 output");
  if (call.outputs[0].elementCount() == 0) return Status::ok();  // nothing to compute
  switch (op) {
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kMod:
    case OpKind::kPRelu:
      KILN_RETURN_IF_ERROR(checkArity(call, 2));
      return withAnyNumericType(call, call.inputs[0].dtype,
                                [&](auto tag) { return runArithmetic<decltype(tag)>(call); });
    case OpKind::kPow:
      KILN_RETURN_IF_ERROR(checkArity(call, 2));
      return runPow(call);
    case OpKind::kMax: case OpKind::kMin: case OpKind::kSum: case OpKind::kMean:
      KILN_RETURN_IF_ERROR(checkArity(call, call.inputs.size()));
      if (call.inputs.empty()) return internalError(call.where() + "no inputs");
      return withAnyNumericType(call, call.inputs[0].dtype,
                                [&](auto tag) { return runVariadic<decltype(tag)>(call); });
    case OpKind::kEqual: case OpKind::kGreater: case OpKind::kGreaterOrEqual: case OpKind::kLess:
    case OpKind::kLessOrEqual:
      KILN_RETURN_IF_ERROR(checkArity(call, 2));
      if (call.inputs[0].dtype == DataType::kBool) return runCompare<uint8_t>(call);
      return withAnyNumericType(call, call.inputs[0].dtype, [&](auto tag) { return runCompare<decltype(tag)>(call); });
    case OpKind::kAnd: case OpKind::kOr: case OpKind::kXor:
      KILN_RETURN_IF_ERROR(checkArity(call, 2));
      return runLogic(call);
    case OpKind::kWhere:
      KILN_RETURN_IF_ERROR(checkArity(call, 3));
      return runWhere(call);
    case OpKind::kCast:
      KILN_RETURN_IF_ERROR(checkArity(call, 1));
      return runCast(call);
    case OpKind::kCastLike:  // input 1 only gives the target type (the output's dtype)
      KILN_RETURN_IF_ERROR(checkArity(call, 1));
      return runCast(call);
    case OpKind::kBitShift: case OpKind::kBitwiseAnd: case OpKind::kBitwiseOr: case OpKind::kBitwiseXor:
      KILN_RETURN_IF_ERROR(checkArity(call, 2));
      return runBitwise(call);
    case OpKind::kBitwiseNot:
      KILN_RETURN_IF_ERROR(checkArity(call, 1));
      return runBitwise(call);
    case OpKind::kIdentity:
      KILN_RETURN_IF_ERROR(checkArity(call, 1));
      return runIdentity(call);
    case OpKind::kFusedElementwise: return runFusedElementwise(call);
    default:
      KILN_RETURN_IF_ERROR(checkArity(call, 1));
      return runUnaryElementwise(call);
  }
}

}  // namespace kiln::backends::cpu

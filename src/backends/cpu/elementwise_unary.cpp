// CPU elementwise kernels, part 2: unary maps (activations, math functions, rounding, predicates) and Clip.
// Formulas follow the ONNX operator specs; the default attribute values are the specs' defaults.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/elementwise_kernels.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

// Transcendental maps are ~20x costlier per element than an add, so they go parallel sooner.
constexpr int64_t kExpensiveGrain = ops::kParallelGrain / 8;

inline float sigmoid(float x) {
  // Both branches avoid exp overflow to inf/inf.
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

inline float softplus(float x) {
  // log(1 + exp(x)) without overflow for large x.
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

Status runFloatUnary(const KernelCall& call) {
  const auto& in = call.inputs[0];
  const auto& out = call.outputs[0];
  const auto& attrs = call.node.attrs;
  auto map = [&](auto f) { unaryMap<float, float>(in, out, f, kExpensiveGrain); };
  auto cheap = [&](auto f) { unaryMap<float, float>(in, out, f); };
  switch (call.node.op) {
    case OpKind::kRelu: cheap([](float x) { return x > 0 ? x : 0.0f; }); break;
    case OpKind::kSigmoid: map([](float x) { return sigmoid(x); }); break;
    case OpKind::kTanh: map([](float x) { return std::tanh(x); }); break;
    case OpKind::kErf: map([](float x) { return std::erf(x); }); break;
    case OpKind::kExp: map([](float x) { return std::exp(x); }); break;
    case OpKind::kLog: map([](float x) { return std::log(x); }); break;
    case OpKind::kSqrt: cheap([](float x) { return std::sqrt(x); }); break;
    case OpKind::kReciprocal: cheap([](float x) { return 1.0f / x; }); break;
    case OpKind::kAbs: cheap([](float x) { return std::fabs(x); }); break;
    case OpKind::kNeg: cheap([](float x) { return -x; }); break;
    case OpKind::kHardSigmoid: {
      const float alpha = attrs.getFloat("alpha", 0.2f), beta = attrs.getFloat("beta", 0.5f);
      cheap([=](float x) { return std::min(1.0f, std::max(0.0f, alpha * x + beta)); });
      break;
    }
    case OpKind::kHardSwish:
      cheap([](float x) { return x * std::min(1.0f, std::max(0.0f, x * (1.0f / 6.0f) + 0.5f)); });
      break;
    case OpKind::kLeakyRelu: {
      const float alpha = attrs.getFloat("alpha", 0.01f);
      cheap([=](float x) { return x < 0 ? alpha * x : x; });
      break;
    }
    case OpKind::kGelu:
      if (attrs.getString("approximate", "none") == "tanh") {
        const float k = std::sqrt(2.0f / 3.14159265358979323846f);
        map([=](float x) { return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x))); });
      } else {
        map([](float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f)); });
      }
      break;
    case OpKind::kElu: {
      const float alpha = attrs.getFloat("alpha", 1.0f);
      map([=](float x) { return x < 0 ? alpha * std::expm1(x) : x; });
      break;
    }
    case OpKind::kSelu: {
      const float alpha = attrs.getFloat("alpha", 1.67326319217681884765625f);
      const float gamma = attrs.getFloat("gamma", 1.05070102214050292968750f);
      map([=](float x) { return x <= 0 ? gamma * alpha * std::expm1(x) : gamma * x; });
      break;
    }
    case OpKind::kCelu: {
      const float alpha = attrs.getFloat("alpha", 1.0f);
      map([=](float x) { return std::max(0.0f, x) + std::min(0.0f, alpha * std::expm1(x / alpha)); });
      break;
    }
    case OpKind::kSoftplus: map([](float x) { return softplus(x); }); break;
    case OpKind::kShrink: {
      const float lambd = attrs.getFloat("lambd", 0.5f), bias = attrs.getFloat("bias", 0.0f);
      cheap([=](float x) { return x < -lambd ? x + bias : (x > lambd ? x - bias : 0.0f); });
      break;
    }
    case OpKind::kSwish: {
      const float alpha = attrs.getFloat("alpha", 1.0f);
      map([=](float x) { return x * sigmoid(alpha * x); });
      break;
    }
    case OpKind::kSoftsign: cheap([](float x) { return x / (1.0f + std::fabs(x)); }); break;
    case OpKind::kMish: map([](float x) { return x * std::tanh(softplus(x)); }); break;
    case OpKind::kThresholdedRelu: {
      const float alpha = attrs.getFloat("alpha", 1.0f);
      cheap([=](float x) { return x > alpha ? x : 0.0f; });
      break;
    }
    case OpKind::kCeil: cheap([](float x) { return std::ceil(x); }); break;
    case OpKind::kFloor: cheap([](float x) { return std::floor(x); }); break;
    // Half to even, independent of the current rounding mode.
    // |x| >= 2^23 is already an integer (and inf/NaN must pass through unchanged).
    case OpKind::kRound:
      cheap([](float x) { return std::fabs(x) < 8388608.0f ? x - std::remainder(x, 1.0f) : x; });
      break;
    case OpKind::kSign: cheap([](float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : x); }); break;
    case OpKind::kSin: map([](float x) { return std::sin(x); }); break;
    case OpKind::kCos: map([](float x) { return std::cos(x); }); break;
    case OpKind::kTan: map([](float x) { return std::tan(x); }); break;
    case OpKind::kAsin: map([](float x) { return std::asin(x); }); break;
    case OpKind::kAcos: map([](float x) { return std::acos(x); }); break;
    case OpKind::kAtan: map([](float x) { return std::atan(x); }); break;
    case OpKind::kSinh: map([](float x) { return std::sinh(x); }); break;
    case OpKind::kCosh: map([](float x) { return std::cosh(x); }); break;
    case OpKind::kAsinh: map([](float x) { return std::asinh(x); }); break;
    case OpKind::kAcosh: map([](float x) { return std::acosh(x); }); break;
    case OpKind::kAtanh: map([](float x) { return std::atanh(x); }); break;
    case OpKind::kIsNaN: unaryMap<float, uint8_t>(in, out, [](float x) { return uint8_t(x != x); }); break;
    case OpKind::kIsInf: {
      const bool negative = attrs.getInt("detect_negative", 1) != 0;
      const bool positive = attrs.getInt("detect_positive", 1) != 0;
      const float inf = std::numeric_limits<float>::infinity();
      unaryMap<float, uint8_t>(in, out, [=](float x) {
        return uint8_t((positive && x == inf) || (negative && x == -inf));
      });
      break;
    }
    default: return unsupported(call.where() + "no float32 CPU kernel for this op");
  }
  return Status::ok();
}

template <typename T>
Status runIntegerUnary(const KernelCall& call) {
  const auto& in = call.inputs[0];
  const auto& out = call.outputs[0];
  switch (call.node.op) {
    case OpKind::kAbs: unaryMap<T, T>(in, out, [](T x) { return x < T(0) ? wrappingSub<T>(0, x) : x; }); break;
    case OpKind::kNeg: unaryMap<T, T>(in, out, [](T x) { return wrappingSub<T>(0, x); }); break;
    case OpKind::kSign: unaryMap<T, T>(in, out, [](T x) { return T((x > T(0)) - (x < T(0))); }); break;
    default:
      return unsupported(call.where() + "no CPU kernel for dtype " + dataTypeName(in.dtype) + " of this op");
  }
  return Status::ok();
}

/// Clip's bound from an optional scalar input, or the type's extreme when omitted.
template <typename T>
T boundOrDefault(const KernelCall& call, size_t index, T fallback) {
  if (call.inputs.size() <= index || !call.inputs[index].present() || call.inputs[index].data == nullptr)
    return fallback;
  return *static_cast<const T*>(call.inputs[index].data);
}

template <typename T>
Status runClipTyped(const KernelCall& call) {
  constexpr bool isFloat = std::is_floating_point_v<T>;
  const T lowest = isFloat ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  const T highest = isFloat ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
  const T lo = boundOrDefault<T>(call, 1, lowest);
  const T hi = boundOrDefault<T>(call, 2, highest);
  // ONNX: min(max(x, lo), hi); when lo > hi every element becomes hi.
  unaryMap<T, T>(call.inputs[0], call.outputs[0], [=](T x) {
    const T y = x < lo ? lo : x;
    return y > hi ? hi : y;
  });
  return Status::ok();
}

/// float16 through float32 staging: X by runViaFloat32, the float16 bounds converted here.
Status runClipHalf(const KernelCall& call) {
  float bounds[2] = {0.f, 0.f};
  std::vector<DeviceTensor> inputs(call.inputs.begin(), call.inputs.end());
  for (size_t i = 1; i < inputs.size() && i < 3; ++i) {
    if (!inputs[i].present() || inputs[i].data == nullptr) continue;
    if (inputs[i].dtype != DataType::kFloat16)
      return invalidArgument(call.where() + "bound " + std::to_string(i) + " must be float16 like X");
    bounds[i - 1] = static_cast<float>(*static_cast<const Half*>(inputs[i].data));
    inputs[i] = DeviceTensor{DataType::kFloat32, inputs[i].dims, &bounds[i - 1]};
  }
  const KernelCall withBounds{call.graph, call.node, inputs, call.outputs};
  return runViaFloat32(withBounds, &runClipTyped<float>);
}

Status runClip(const KernelCall& call) {
  switch (call.inputs[0].dtype) {
    case DataType::kFloat32: return runClipTyped<float>(call);
    case DataType::kFloat16: return runClipHalf(call);
    case DataType::kInt64: return runClipTyped<int64_t>(call);
    case DataType::kInt32: return runClipTyped<int32_t>(call);
    case DataType::kInt8: return runClipTyped<int8_t>(call);
    case DataType::kUInt8: return runClipTyped<uint8_t>(call);
    default: return unsupported(call.where() + "Clip on dtype " + dataTypeName(call.inputs[0].dtype));
  }
}

/// The float64 subset (ops/elementwise.cpp's doubleUnarySupported lists the same ops).
Status runDoubleUnary(const KernelCall& call) {
  const auto& in = call.inputs[0];
  const auto& out = call.outputs[0];
  auto map = [&](auto f) { unaryMap<double, double>(in, out, f, kExpensiveGrain); };
  switch (call.node.op) {
    case OpKind::kRelu: map([](double x) { return x > 0 ? x : 0.0; }); break;
    case OpKind::kSigmoid: map([](double x) { return 1.0 / (1.0 + std::exp(-x)); }); break;
    case OpKind::kTanh: map([](double x) { return std::tanh(x); }); break;
    case OpKind::kErf: map([](double x) { return std::erf(x); }); break;
    case OpKind::kExp: map([](double x) { return std::exp(x); }); break;
    case OpKind::kLog: map([](double x) { return std::log(x); }); break;
    case OpKind::kSqrt: map([](double x) { return std::sqrt(x); }); break;
    case OpKind::kReciprocal: map([](double x) { return 1.0 / x; }); break;
    case OpKind::kFloor: map([](double x) { return std::floor(x); }); break;
    case OpKind::kCeil: map([](double x) { return std::ceil(x); }); break;
    case OpKind::kSin: map([](double x) { return std::sin(x); }); break;
    case OpKind::kCos: map([](double x) { return std::cos(x); }); break;
    default: return unsupported(call.where() + "no float64 CPU kernel for this op");
  }
  return Status::ok();
}

}  // namespace

Status runUnaryElementwise(const KernelCall& call) {
  const DataType t = call.inputs[0].dtype;
  if (call.node.op == OpKind::kClip) return runClip(call);
  if (call.node.op == OpKind::kNot) {
    if (t != DataType::kBool) return unsupported(call.where() + "Not on dtype " + dataTypeName(t));
    unaryMap<uint8_t, uint8_t>(call.inputs[0], call.outputs[0], [](uint8_t x) { return uint8_t(x == 0); });
    return Status::ok();
  }
  switch (t) {
    case DataType::kFloat32: return runFloatUnary(call);
    case DataType::kFloat16: return runViaFloat32(call, runFloatUnary);
    case DataType::kFloat64:
      if (call.node.op == OpKind::kAbs || call.node.op == OpKind::kNeg || call.node.op == OpKind::kSign)
        return runIntegerUnary<double>(call);  // exact in double: same formulas as the integer path
      return runDoubleUnary(call);
    default:
      return withIntegerType(call, t, [&](auto tag) { return runIntegerUnary<decltype(tag)>(call); });
  }
}

Status runViaFloat32(const KernelCall& call, Status (*floatKernel)(const KernelCall&)) {
  const DeviceTensor& in = call.inputs[0];
  const DeviceTensor& out = call.outputs[0];
  if (in.dtype != DataType::kFloat16) return internalError(call.where() + "float32 staging expects float16 input");
  std::vector<float> in32(static_cast<size_t>(in.elementCount()));
  unaryMap<Half, float>(in, DeviceTensor{DataType::kFloat32, in.dims, in32.data()},
                        [](Half x) { return static_cast<float>(x); });
  std::vector<DeviceTensor> inputs(call.inputs.begin(), call.inputs.end());
  inputs[0] = DeviceTensor{DataType::kFloat32, in.dims, in32.data()};
  const bool halfOut = out.dtype == DataType::kFloat16;
  std::vector<float> out32(halfOut ? static_cast<size_t>(out.elementCount()) : 0);
  const DeviceTensor stagedOut = halfOut ? DeviceTensor{DataType::kFloat32, out.dims, out32.data()} : out;
  const KernelCall staged{call.graph, call.node, inputs, std::span<const DeviceTensor>(&stagedOut, 1)};
  KILN_RETURN_IF_ERROR(floatKernel(staged));
  if (halfOut) unaryMap<float, Half>(stagedOut, out, [](float x) { return static_cast<Half>(x); });
  return Status::ok();
}

}  // namespace kiln::backends::cpu

// CPU elementwise kernels, part 4: the integer bit operations BitShift, BitwiseAnd/Or/Xor (broadcasting) and
// BitwiseNot.
#include <string>

#include "backends/cpu/elementwise_kernels.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

/// A shift amount outside [0, bit width) shifts every bit out: 0 to the left; to the right 0, or -1 for a negative
/// signed value (the arithmetic shift's sign fill), as ONNX's BitShift-28 defines for signed types.
template <typename T>
inline bool shiftOutOfRange(T s) {
  if constexpr (std::is_signed_v<T>)
    if (s < 0) return true;
  return static_cast<uint64_t>(s) >= sizeof(T) * 8;
}
template <typename T>
inline T shiftLeft(T x, T s) {
  using U = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;
  return shiftOutOfRange(s) ? T(0) : static_cast<T>(static_cast<U>(static_cast<std::make_unsigned_t<T>>(x)) << s);
}
template <typename T>
inline T shiftRight(T x, T s) {
  if (shiftOutOfRange(s)) return x < T(0) ? T(-1) : T(0);
  return static_cast<T>(x >> s);  // arithmetic for signed types (C++20)
}

template <typename T>
Status runBitwiseTyped(const KernelCall& call) {
  const auto& o = call.outputs[0];
  const auto& a = call.inputs[0];
  switch (call.node.op) {
    case OpKind::kBitwiseNot: unaryMap<T, T>(a, o, [](T x) { return static_cast<T>(~x); }); return Status::ok();
    case OpKind::kBitwiseAnd:
      broadcastBinary<T, T, T>(a, call.inputs[1], o, [](T x, T y) { return static_cast<T>(x & y); });
      return Status::ok();
    case OpKind::kBitwiseOr:
      broadcastBinary<T, T, T>(a, call.inputs[1], o, [](T x, T y) { return static_cast<T>(x | y); });
      return Status::ok();
    case OpKind::kBitwiseXor:
      broadcastBinary<T, T, T>(a, call.inputs[1], o, [](T x, T y) { return static_cast<T>(x ^ y); });
      return Status::ok();
    case OpKind::kBitShift:
      if (call.node.attrs.getString("direction", "") == "LEFT")
        broadcastBinary<T, T, T>(a, call.inputs[1], o, [](T x, T s) { return shiftLeft(x, s); });
      else
        broadcastBinary<T, T, T>(a, call.inputs[1], o, [](T x, T s) { return shiftRight(x, s); });
      return Status::ok();
    default: return internalError(call.where() + "not a bitwise op");
  }
}

}  // namespace

Status runBitwise(const KernelCall& call) {
  return withIntegerType(call, call.inputs[0].dtype, [&](auto tag) { return runBitwiseTyped<decltype(tag)>(call); });
}

}  // namespace kiln::backends::cpu

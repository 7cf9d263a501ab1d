// CPU kernel of FusedElementwise (ops/fused_elementwise_program.h): the program runs one instruction at a time over
// a block of output elements held in float32 registers, so the dispatch on the opcode costs once per block, not per
// element. Inputs are gathered per output row with their broadcast strides; float16 is loaded to and stored from
// float32 (DESIGN.md rule 6).
#include <algorithm>
#include <vector>

#include "backends/cpu/elementwise_kernels.h"
#include "ops/fused_elementwise_math.h"
#include "ops/fused_elementwise_program.h"

namespace kiln::backends::cpu {
namespace {

using ops::FusedOpcode;
using ops::FusedProgram;

constexpr int64_t kBlock = 256;

/// dst[i] = f(src[i]) for one unary or parameterised opcode over a block.
void applyUnary(FusedOpcode op, const float* a, int64_t sa, const float* params, float* out, int64_t n) {
  namespace f = ops::fused;
  auto map = [&](auto fn) {
    for (int64_t i = 0; i < n; ++i) out[i] = fn(a[i * sa]);
  };
  switch (op) {
    case FusedOpcode::kRelu: map([](float x) { return x > 0.0f ? x : 0.0f; }); return;
    case FusedOpcode::kNeg: map([](float x) { return -x; }); return;
    case FusedOpcode::kAbs: map([](float x) { return fabsf(x); }); return;
    case FusedOpcode::kSqrt: map([](float x) { return sqrtf(x); }); return;
    case FusedOpcode::kReciprocal: map([](float x) { return 1.0f / x; }); return;
    case FusedOpcode::kExp: map([](float x) { return expf(x); }); return;
    case FusedOpcode::kErf: map([](float x) { return erff(x); }); return;
    case FusedOpcode::kTanh: map([](float x) { return tanhf(x); }); return;
    case FusedOpcode::kSigmoid: map([](float x) { return f::sigmoid(x); }); return;
    default: map([&](float x) { return f::unary(op, x, params); }); return;
  }
}

void applyBinary(FusedOpcode op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  auto map = [&](auto fn) {
    for (int64_t i = 0; i < n; ++i) out[i] = fn(a[i * sa], b[i * sb]);
  };
  switch (op) {
    case FusedOpcode::kAdd: map([](float x, float y) { return x + y; }); return;
    case FusedOpcode::kSub: map([](float x, float y) { return x - y; }); return;
    case FusedOpcode::kMul: map([](float x, float y) { return x * y; }); return;
    case FusedOpcode::kDiv: map([](float x, float y) { return x / y; }); return;
    default: map([&](float x, float y) { return ops::fused::binary(op, x, y); }); return;
  }
}

template <typename T>
Status runTyped(const KernelCall& call, const FusedProgram& program) {
  const DeviceTensor& out = call.outputs[0];
  const Dims& od = out.dims;
  const size_t rank = od.size();
  const int64_t inner = rank ? od[rank - 1] : 1;
  const int64_t total = out.elementCount();
  if (inner <= 0 || total == 0) return Status::ok();
  const int64_t rows = total / inner;
  const size_t n = static_cast<size_t>(program.inputCount);
  std::vector<Dims> strides(n);
  for (size_t k = 0; k < n; ++k) {
    const Dims& d = call.inputs[k].dims;
    // Shape inference checked this; a kernel called with other shapes must not read out of bounds.
    auto shape = ops::broadcastShapes(d, od);
    if (!shape || *shape != od)
      return invalidArgument(call.where() + "input " + std::to_string(k) + " of shape " + dimsToString(d) +
                             " does not broadcast to the output shape " + dimsToString(od));
    strides[k] = ops::broadcastStrides(d, od);
  }
  const int32_t registers = program.registerCount();
  const float* imm = program.immediates.data();
  const int64_t grainRows = std::max<int64_t>(1, ops::kParallelGrain / 8 / inner);
  ops::parallelForRange(rows, grainRows, [&](int64_t rowBegin, int64_t rowEnd) {
    std::vector<float> regs(static_cast<size_t>(registers) * kBlock);
    auto reg = [&](int32_t r) { return regs.data() + static_cast<size_t>(r) * kBlock; };
    std::vector<int64_t> rowOffset(n);
    for (int64_t row = rowBegin; row < rowEnd; ++row) {
      // Offset of each input at the start of this output row (the row's index split over the outer dims).
      std::fill(rowOffset.begin(), rowOffset.end(), 0);
      int64_t rest = row;
      for (size_t d = rank > 0 ? rank - 1 : 0; d-- > 0;) {
        const int64_t i = rest % od[d];
        rest /= od[d];
        for (size_t k = 0; k < n; ++k) rowOffset[k] += i * strides[k][d];
      }
      T* dst = static_cast<T*>(out.data) + row * inner;
      for (int64_t col = 0; col < inner; col += kBlock) {
        const int64_t len = std::min(kBlock, inner - col);
        for (size_t k = 0; k < n; ++k) {
          const int64_t step = rank ? strides[k][rank - 1] : 0;
          const T* src = static_cast<const T*>(call.inputs[k].data) + rowOffset[k] + col * step;
          float* r = reg(static_cast<int32_t>(k));
          for (int64_t i = 0; i < len; ++i) r[i] = static_cast<float>(src[i * step]);
        }
        for (size_t j = 0; j < program.code.size(); ++j) {
          const ops::FusedInstruction& in = program.code[j];
          float* o = reg(program.inputCount + static_cast<int32_t>(j));
          // An immediate operand is a scalar: stride 0.
          const float* a = in.a >= 0 ? reg(in.a) : imm + (-1 - in.a);
          const int64_t sa = in.a >= 0 ? 1 : 0;
          if (ops::fused::isBinary(in.op)) {
            const float* b = in.b >= 0 ? reg(in.b) : imm + (-1 - in.b);
            applyBinary(in.op, a, sa, b, in.b >= 0 ? 1 : 0, o, len);
          } else {
            applyUnary(in.op, a, sa, in.b < 0 ? imm + (-1 - in.b) : nullptr, o, len);
          }
        }
        const float* result = reg(registers - 1);
        for (int64_t i = 0; i < len; ++i) dst[col + i] = static_cast<T>(result[i]);
      }
    }
  });
  return Status::ok();
}

}  // namespace

Status runFusedElementwise(const KernelCall& call) {
  KILN_ASSIGN_OR_RETURN(FusedProgram program, ops::parseFusedProgram(call.graph, call.node));
  if (call.inputs.size() != static_cast<size_t>(program.inputCount) || call.outputs.size() != 1)
    return internalError(call.where() + "expected " + std::to_string(program.inputCount) + " inputs and 1 output");
  const DataType t = call.outputs[0].dtype;
  for (size_t k = 0; k < call.inputs.size(); ++k) {
    if (call.inputs[k].dtype != t)
      return unsupported(call.where() + "input " + std::to_string(k) + " has dtype " +
                         dataTypeName(call.inputs[k].dtype) + " but the output has " + dataTypeName(t));
    if (call.inputs[k].data == nullptr && call.inputs[k].elementCount() != 0)
      return internalError(call.where() + "input " + std::to_string(k) + " has no data");
  }
  switch (t) {
    case DataType::kFloat32: return runTyped<float>(call, program);
    case DataType::kFloat16: return runTyped<Half>(call, program);
    default: return unsupported(call.where() + "no CPU kernel for dtype " + dataTypeName(t));
  }
}

}  // namespace kiln::backends::cpu

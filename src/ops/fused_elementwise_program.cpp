#include "ops/fused_elementwise_program.h"

#include <sstream>
#include <variant>

namespace kiln::ops {

FusedOperandUse fusedOperandUse(FusedOpcode op) {
  switch (op) {
    case FusedOpcode::kAdd: case FusedOpcode::kSub: case FusedOpcode::kMul: case FusedOpcode::kDiv:
    case FusedOpcode::kMax: case FusedOpcode::kMin: case FusedOpcode::kPow:
      return FusedOperandUse::kBinary;
    case FusedOpcode::kRelu: case FusedOpcode::kSigmoid: case FusedOpcode::kTanh: case FusedOpcode::kErf:
    case FusedOpcode::kExp: case FusedOpcode::kLog: case FusedOpcode::kSqrt: case FusedOpcode::kReciprocal:
    case FusedOpcode::kAbs: case FusedOpcode::kNeg: case FusedOpcode::kHardSwish: case FusedOpcode::kGelu:
    case FusedOpcode::kGeluTanh: case FusedOpcode::kSoftplus:
      return FusedOperandUse::kUnary;
    case FusedOpcode::kLeakyRelu: case FusedOpcode::kElu: return FusedOperandUse::kOneParameter;
    case FusedOpcode::kHardSigmoid: case FusedOpcode::kClip: return FusedOperandUse::kTwoParameters;
  }
  return FusedOperandUse::kUnary;
}

const char* fusedOpcodeName(FusedOpcode op) {
  switch (op) {
    case FusedOpcode::kAdd: return "Add";
    case FusedOpcode::kSub: return "Sub";
    case FusedOpcode::kMul: return "Mul";
    case FusedOpcode::kDiv: return "Div";
    case FusedOpcode::kMax: return "Max";
    case FusedOpcode::kMin: return "Min";
    case FusedOpcode::kPow: return "Pow";
    case FusedOpcode::kRelu: return "Relu";
    case FusedOpcode::kSigmoid: return "Sigmoid";
    case FusedOpcode::kTanh: return "Tanh";
    case FusedOpcode::kErf: return "Erf";
    case FusedOpcode::kExp: return "Exp";
    case FusedOpcode::kLog: return "Log";
    case FusedOpcode::kSqrt: return "Sqrt";
    case FusedOpcode::kReciprocal: return "Reciprocal";
    case FusedOpcode::kAbs: return "Abs";
    case FusedOpcode::kNeg: return "Neg";
    case FusedOpcode::kHardSwish: return "HardSwish";
    case FusedOpcode::kGelu: return "Gelu";
    case FusedOpcode::kGeluTanh: return "GeluTanh";
    case FusedOpcode::kSoftplus: return "Softplus";
    case FusedOpcode::kLeakyRelu: return "LeakyRelu";
    case FusedOpcode::kElu: return "Elu";
    case FusedOpcode::kHardSigmoid: return "HardSigmoid";
    case FusedOpcode::kClip: return "Clip";
  }
  return "?";
}

namespace {

int parameterCount(FusedOperandUse use) {
  return use == FusedOperandUse::kOneParameter ? 1 : use == FusedOperandUse::kTwoParameters ? 2 : 0;
}

/// Checks that operand `v` of instruction `k` reads a register written before it or an existing immediate.
Status checkOperand(const std::string& where, const FusedProgram& p, size_t k, const char* which, int64_t v) {
  const int64_t written = p.inputCount + static_cast<int64_t>(k);
  if (v >= 0) {
    if (v >= written)
      return invalidModel(where + "instruction " + std::to_string(k) + " operand " + which + " reads register " +
                          std::to_string(v) + ", but only registers 0.." + std::to_string(written - 1) +
                          " are written before it");
    return Status::ok();
  }
  const int64_t imm = -1 - v;
  if (imm >= static_cast<int64_t>(p.immediates.size()))
    return invalidModel(where + "instruction " + std::to_string(k) + " operand " + which + " reads immediate " +
                        std::to_string(imm) + ", but there are " + std::to_string(p.immediates.size()));
  return Status::ok();
}

}  // namespace

Expected<FusedProgram> parseFusedProgram(const ir::Graph& graph, const ir::Node& node) {
  const std::string where = graph.describe(node) + ": ";
  const auto& all = node.attrs.all();
  FusedProgram p;
  const size_t inputs = node.inputs.size();
  if (inputs < 1 || inputs > static_cast<size_t>(kMaxFusedInputs))
    return invalidModel(where + "expected 1 to " + std::to_string(kMaxFusedInputs) + " inputs, found " +
                        std::to_string(inputs));
  for (size_t i = 0; i < inputs; ++i)
    if (node.inputs[i] == ir::kNoValue)
      return invalidModel(where + "input " + std::to_string(i) + " is omitted (every input is a register)");
  p.inputCount = static_cast<int32_t>(inputs);

  auto program = all.find("program");
  if (program == all.end()) return invalidModel(where + "attribute 'program' is required");
  const auto* words = std::get_if<std::vector<int64_t>>(&program->second);
  if (!words) return invalidModel(where + "attribute 'program' must be a list of ints");
  if (words->empty() || words->size() % 3 != 0)
    return invalidModel(where + "attribute 'program' must hold 3 ints per instruction, found " +
                        std::to_string(words->size()) + " ints");
  const size_t count = words->size() / 3;
  if (count > static_cast<size_t>(kMaxFusedInstructions))
    return invalidModel(where + "the program has " + std::to_string(count) + " instructions; at most " +
                        std::to_string(kMaxFusedInstructions) + " are allowed");

  if (auto imm = all.find("immediates"); imm != all.end()) {
    const auto* floats = std::get_if<std::vector<float>>(&imm->second);
    if (!floats) return invalidModel(where + "attribute 'immediates' must be a list of floats");
    if (floats->size() > static_cast<size_t>(kMaxFusedImmediates))
      return invalidModel(where + "attribute 'immediates' has " + std::to_string(floats->size()) +
                          " values; at most " + std::to_string(kMaxFusedImmediates) + " are allowed");
    p.immediates = *floats;
  }
  if (auto names = all.find("fused_nodes"); names != all.end() && !std::holds_alternative<std::vector<std::string>>(names->second))
    return invalidModel(where + "attribute 'fused_nodes' must be a list of strings");

  p.code.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    const int64_t opcode = (*words)[3 * k], a = (*words)[3 * k + 1], b = (*words)[3 * k + 2];
    if (opcode < 0 || opcode >= kFusedOpcodeCount)
      return invalidModel(where + "instruction " + std::to_string(k) + " has opcode " + std::to_string(opcode) +
                          ", not one of the " + std::to_string(kFusedOpcodeCount) + " known opcodes");
    const auto op = static_cast<FusedOpcode>(opcode);
    KILN_RETURN_IF_ERROR(checkOperand(where, p, k, "a", a));
    const FusedOperandUse use = fusedOperandUse(op);
    if (use == FusedOperandUse::kBinary) {
      KILN_RETURN_IF_ERROR(checkOperand(where, p, k, "b", b));
    } else if (use == FusedOperandUse::kUnary) {
      if (b != 0)
        return invalidModel(where + "instruction " + std::to_string(k) + " (" + fusedOpcodeName(op) +
                            ") is unary; its operand b must be 0, found " + std::to_string(b));
    } else {
      const int64_t first = -1 - b;  // b must name an immediate: b < 0
      const int64_t needed = parameterCount(use);
      const int64_t available = static_cast<int64_t>(p.immediates.size());
      if (b >= 0 || first >= available || needed > available - first)
        return invalidModel(where + "instruction " + std::to_string(k) + " (" + fusedOpcodeName(op) + ") needs " +
                            std::to_string(needed) + " parameter(s) from the immediates at operand b = " +
                            std::to_string(b) + ", but there are " + std::to_string(p.immediates.size()) +
                            " immediates");
    }
    p.code.push_back({op, static_cast<int32_t>(a), static_cast<int32_t>(b)});
  }
  return p;
}

void encodeFusedProgram(const FusedProgram& program, ir::Attributes& attrs) {
  std::vector<int64_t> words;
  words.reserve(program.code.size() * 3);
  for (const FusedInstruction& in : program.code) {
    words.push_back(static_cast<int64_t>(in.op));
    words.push_back(in.a);
    words.push_back(in.b);
  }
  attrs.set("program", std::move(words));
  attrs.set("immediates", program.immediates);
}

std::string describeFusedProgram(const FusedProgram& program) {
  std::ostringstream s;
  auto operand = [&](int32_t v) {
    if (v >= 0) return "r" + std::to_string(v);
    const size_t i = static_cast<size_t>(-1 - v);
    std::ostringstream o;
    o << "imm" << i << "=" << (i < program.immediates.size() ? program.immediates[i] : 0.0f);
    return o.str();
  };
  for (size_t k = 0; k < program.code.size(); ++k) {
    const FusedInstruction& in = program.code[k];
    s << "r" << program.inputCount + static_cast<int32_t>(k) << " = " << fusedOpcodeName(in.op) << "("
      << operand(in.a);
    if (fusedOperandUse(in.op) != FusedOperandUse::kUnary) s << ", " << operand(in.b);
    s << ")\n";
  }
  return s.str();
}

}  // namespace kiln::ops

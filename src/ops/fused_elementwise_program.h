// FusedElementwise (made by passes/fuse_elementwise.cpp, never imported): a chain or tree of float elementwise ops
// run as one kernel. The node carries a small straight-line program over float32 registers:
//
//   registers 0..N-1    the node's N inputs (same dtype, float32 or float16, numpy-broadcast to the output)
//   instruction k       writes register N+k; the last register is the output (stored in the inputs' dtype)
//   attribute "program"     ints, 3 per instruction: opcode, operand a, operand b
//   attribute "immediates"  floats: constants the program reads (a scalar multiplier, Clip bounds, an alpha)
//   attribute "fused_nodes" strings: the names of the original nodes, in order (shown by `kiln inspect`)
//
// An operand v >= 0 reads register v (which must be written before: v < N + k); v < 0 reads immediates[-1 - v].
// Binary opcodes read a and b. Unary opcodes read a; their b must be 0. Parameterised opcodes read a and take their
// parameters from immediates starting at the one b refers to (b must be an immediate operand).
// Engine files store the attributes as they are and are untrusted input, so parseFusedProgram checks everything
// before any kernel runs; the opcode numbers are stored in engine files and must never be renumbered.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "ops/fused_opcode.h"

namespace kiln::ops {

/// How an opcode uses operand b.
enum class FusedOperandUse { kBinary, kUnary, kOneParameter, kTwoParameters };
FusedOperandUse fusedOperandUse(FusedOpcode op);
const char* fusedOpcodeName(FusedOpcode op);

struct FusedInstruction {
  FusedOpcode op = FusedOpcode::kAdd;
  int32_t a = 0;
  int32_t b = 0;
};

struct FusedProgram {
  int32_t inputCount = 0;
  std::vector<FusedInstruction> code;
  std::vector<float> immediates;
  int32_t registerCount() const { return inputCount + static_cast<int32_t>(code.size()); }
};

/// Reads and fully validates the program of a FusedElementwise node (input count, opcodes, operand ranges,
/// immediates, attribute kinds); errors name the node and the instruction.
Expected<FusedProgram> parseFusedProgram(const ir::Graph& graph, const ir::Node& node);
/// Writes "program" and "immediates" (the inverse of parseFusedProgram).
void encodeFusedProgram(const FusedProgram& program, ir::Attributes& attrs);
/// One line per instruction ("r3 = Mul(r2, imm0=0.5)") for messages and debugging.
std::string describeFusedProgram(const FusedProgram& program);

}  // namespace kiln::ops

#include "ir/op_kind.h"

#include <array>

namespace kiln::ir {
namespace {
constexpr std::string_view kOpKindNames[] = {
#define KILN_OP_NAME(name) #name,
    KILN_FOR_EACH_OP(KILN_OP_NAME)
#undef KILN_OP_NAME
};
}  // namespace

std::string_view opKindName(OpKind kind) {
  const int i = static_cast<int>(kind);
  if (i < 0 || i >= opKindCount()) return "UnknownOp";
  return kOpKindNames[i];
}

std::optional<OpKind> opKindFromName(std::string_view name) {
  for (int i = 0; i < opKindCount(); ++i)
    if (kOpKindNames[i] == name) return static_cast<OpKind>(i);
  return std::nullopt;
}

int opKindCount() { return static_cast<int>(std::size(kOpKindNames)); }

}  // namespace kiln::ir

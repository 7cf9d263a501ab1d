// STUB: to be replaced by the family's owner.
#include "ops/families.h"

namespace kiln::ops {

InferResult inferGenerator(const InferenceCall& call) { return unsupported(call.where() + "not implemented yet"); }
bool generatorImplements(ir::OpKind) { return false; }

}  // namespace kiln::ops

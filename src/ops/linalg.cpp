// STUB: to be replaced by the family's owner.
#include "ops/families.h"

namespace kiln::ops {

InferResult inferLinalg(const InferenceCall& call) { return unsupported(call.where() + "not implemented yet"); }
bool linalgImplements(ir::OpKind) { return false; }

}  // namespace kiln::ops

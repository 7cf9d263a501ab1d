// STUB: to be replaced by the family's owner.
#include "ops/families.h"

namespace kiln::ops {

InferResult inferNormalization(const InferenceCall& call) { return unsupported(call.where() + "not implemented yet"); }
bool normalizationImplements(ir::OpKind) { return false; }

}  // namespace kiln::ops

// Shape inference through control flow: an If whose condition is known on the host has its chosen branch's outputs.
#pragma once

#include "ops/shape_inference.h"

namespace kiln::ops {

/// Infers the branch that the host-known condition (input 0) selects, node by node, with the If's other inputs as
/// the branch's inputs (its outer-scope values). A condition known only on the device is refused, naming the node.
Expected<std::vector<TensorInfo>> inferIf(const InferenceCall& call);

}  // namespace kiln::ops

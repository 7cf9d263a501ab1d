// The value of a one-element constant as float: how passes read Clip bounds and other scalar operands, whatever
// the constant's dtype (after FP16 conversion they are float16).
#pragma once

#include <optional>

#include "ir/graph.h"

namespace kiln::passes {

/// The value of `v` when it is a one-element float or integer constant; nothing otherwise.
std::optional<float> scalarConstant(const ir::Graph& graph, ir::ValueId v);

}  // namespace kiln::passes

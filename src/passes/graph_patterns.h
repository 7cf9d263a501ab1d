// Questions the pattern-matching passes ask of a graph: who alone reads a value, and what a one-element constant
// holds (Clip bounds and other scalar operands, whatever the constant's dtype; after FP16 conversion they are
// float16).
#pragma once

#include <cstdint>
#include <optional>

#include "ir/graph.h"

namespace kiln::passes {

/// The single node reading `v`, or -1 (a graph output counts as a reader, so it blocks fusion).
int32_t soleConsumer(const ir::Graph& graph, ir::ValueId v);

/// The value of `v` when it is a one-element float or integer constant; nothing otherwise.
std::optional<float> scalarConstant(const ir::Graph& graph, ir::ValueId v);

}  // namespace kiln::passes

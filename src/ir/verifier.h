// Structural checks of a Graph: ids in range, each value produced once, no cycles, inputs/outputs named.
#pragma once

#include "ir/graph.h"

namespace kiln::ir {

/// Sorts the graph topologically and checks it; lists every problem found, one per line.
Status verifyGraph(Graph& graph);
/// One line per node: "conv1 = Conv(input[1x3x?x?], w) {strides=[2,2]} -> out[float32 ?x64x128x72]".
std::string printGraph(const Graph& graph);

}  // namespace kiln::ir

// Shapes through control flow (DESIGN.md rule 4): an If whose condition the shape program knows resolves as its
// chosen branch, run like a graph of its own, so the branch's shape arithmetic is evaluated on the host too.
#pragma once

#include <span>

#include "ops/shape_inference.h"
#include "runtime/shape_program.h"

namespace kiln::runtime {

/// A Loop here (one whose trip count the passes could not fold) is refused, naming the node.
/// Sets the dtypes, dims and (where the branch computes them on the host) contents of the outputs of If `node` in
/// `resolved`, from `inputs` (its condition and outer values, as resolveShapes sees them). A condition not known on
/// the host is refused, naming the node: kiln has no If on the device yet.
Status resolveIf(const ir::Graph& graph, const ir::Node& node, std::span<const ops::TensorInfo> inputs,
                 ResolvedShapes& resolved);

}  // namespace kiln::runtime

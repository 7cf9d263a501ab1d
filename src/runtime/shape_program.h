// Shapes are data (DESIGN.md rule 4): the int64 subgraphs torch exports for dynamic dims (Shape, Gather, Concat,
// ...) run on the host for each set of input shapes, and every tensor's dims follow from shape inference.
#pragma once

#include <map>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::runtime {

/// Which nodes run on the host: Shape/Size, and any node whose inputs are all known on the host.
struct ShapeProgram {
  std::vector<bool> hostNode;   // per node
  std::vector<bool> hostValue;  // per value: a constant or the output of a host node
};

ShapeProgram analyzeShapeProgram(const ir::Graph& graph);

/// Every value's dtype and dims for one set of input shapes, plus the host-computed values.
struct ResolvedShapes {
  std::vector<DataType> dtypes;  // per value
  std::vector<Dims> dims;        // per value
  std::map<ir::ValueId, Tensor> hostValues;
};

/// Runs the shape program and shape inference over the whole graph. `inputDims` must give every graph input.
/// Errors name the node and, through `context`, the situation ("profile 0 max shapes").
Expected<ResolvedShapes> resolveShapes(const ir::Graph& graph, const ShapeProgram& program,
                                       const std::map<ir::ValueId, Dims>& inputDims);

}  // namespace kiln::runtime

// Shapes are data (DESIGN.md rule 4): the int64 subgraphs torch exports for dynamic dims (Shape, Gather, Concat,
// ...) run on the host for each set of input shapes, and every tensor's dims follow from shape inference.
#pragma once

#include <map>
#include <vector>

#include "ir/graph.h"
#include "ops/data_dependent.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::runtime {

/// Which nodes run on the host: Shape/Size, and any node whose inputs are all known on the host.
struct ShapeProgram {
  std::vector<bool> hostNode;   // per node
  std::vector<bool> hostValue;  // per value: a constant or the output of a host node
};

ShapeProgram analyzeShapeProgram(const ir::Graph& graph);

/// A device node whose output sizes depend on data (ops/data_dependent.h): its kernel writes a count.
struct CountedNode {
  size_t node = 0;
  ops::DataDependentSize size;
};

/// Every value's dtype and dims for one set of input shapes, plus the host-computed values.
struct ResolvedShapes {
  std::vector<DataType> dtypes;  // per value
  std::vector<Dims> dims;        // per value
  std::map<ir::ValueId, Tensor> hostValues;
  std::vector<CountedNode> counted;  // in node order
};

/// Runs the shape program and shape inference over the whole graph. `inputDims` must give every graph input.
/// Errors name the node and, through `context`, the situation ("profile 0 max shapes"). A counted node takes its
/// count from `counts` (keyed by node index) where given, and its bound otherwise. A data-dependent node that runs
/// on the host (all its inputs known there) gives exact shapes.
Expected<ResolvedShapes> resolveShapes(const ir::Graph& graph, const ShapeProgram& program,
                                       const std::map<ir::ValueId, Dims>& inputDims,
                                       const std::map<size_t, int64_t>& counts = {});

}  // namespace kiln::runtime

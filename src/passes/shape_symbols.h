// Dims as symbols, for passes that must know two dims are equal at every shape a profile allows, not only at the
// annotated ones: a static size, or "dim i of value v". Read from the shape tensors torch's exporters compute
// (Shape, Slice, Concat, Gather, Unsqueeze/Squeeze of int64 vectors) and followed through the ops that move a dim
// without changing it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ir/graph.h"

namespace kiln::passes {

/// A static size, or dim `index` of value `of`; unknown (equal to nothing) when neither is set.
struct SymDim {
  int64_t size = kDynamicDim;
  ir::ValueId of = ir::kNoValue;
  int64_t index = -1;
  bool operator==(const SymDim& o) const {
    if (size != kDynamicDim || o.size != kDynamicDim) return size == o.size;
    return of != ir::kNoValue && of == o.of && index == o.index;
  }
};
using SymDims = std::vector<SymDim>;

/// The dims of `v` (rank known) as symbols of itself.
SymDims symbolsOf(const ir::Graph& g, ir::ValueId v);

/// The entries of a 1-D int64 shape tensor as symbols; nothing when it is not made of the ops above.
std::optional<SymDims> shapeSymbols(const ir::Graph& g, ir::ValueId v, int depth = 0);

/// The output dims of Reshape `n` as symbols given its input's `in`: each entry of the shape, a 0 (without
/// allowzero) the input dim at that place, a -1 unknown; the annotated output dims where the shape cannot be read.
SymDims reshapeSymbols(const ir::Graph& g, const ir::Node& n, const SymDims& in);

/// Where dim `i` of `v` comes from, followed up through Gather of one index, Transpose, and Mul/Div by a
/// one-element constant.
SymDim traceDim(const ir::Graph& g, ir::ValueId v, int64_t i);

}  // namespace kiln::passes

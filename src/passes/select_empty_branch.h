// If decided by a data-dependent count (NonZero, NonMaxSuppression, ...): known
// only after the run reads the count back, so it cannot be inlined at build
// time. Where one branch yields nothing but empty constants (torchvision's
// batched_nms: `if boxes.numel() == 0: return empty`), the If becomes data flow
// the shape program decides.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "runtime/shape_program.h"

namespace kiln::passes {

/// Every If whose condition is computed on the host from a data-dependent
/// count, and one of whose branches outputs only constants with zero elements,
/// is replaced by its other ("working") branch, inlined, and for each output k:
///   Reshape(Slice(work_k, axis a_k, 0, taken ? INT64_MAX : 0), taken ?
///   Shape(Slice..) : emptyDims_k, allowzero=1)
/// with `taken` the condition that selects the working branch and a_k the first
/// zero axis of empty constant k (the Reshape is left out where both are rank
/// 1). Taken: the Slice and Reshape pass work_k through unchanged. Not taken:
/// the output is empty with the constant's dims, and an empty tensor has no
/// data to differ in. Both hold for any condition, so the answer is the If's
/// exactly; the price is that the working branch always runs, also on the
/// inputs for which the model skips it (an error there names the branch's node,
/// "<if>/<name>"). Refused, naming the If: a branch output whose dtype or rank
/// (where known) differs from the empty constant's. Returns the number of Ifs
/// replaced.
Expected<int> selectEmptyBranches(ir::Graph& graph);

/// Values whose contents or dims may change with a data-dependent count: the outputs of the ops that write one
/// (ops/data_dependent.h: NonZero, Unique, NonMaxSuppression; TopK and Compress when K / the condition is computed on
/// the device) and everything computed from them, on the host (the shape program) or on the device.
std::vector<bool> countDependentValues(const ir::Graph& graph, const runtime::ShapeProgram& program);

}  // namespace kiln::passes

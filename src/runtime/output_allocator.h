// What a context keeps for outputs whose size depends on data (DESIGN.md rule 4): where the counts live, which
// layers wait for which count, and the allocators the user set. The runtime side of ops/data_dependent.h.
#pragma once

#include <map>
#include <vector>

#include "ir/graph.h"
#include "kiln/runtime.h"
#include "runtime/shape_program.h"

namespace kiln::runtime {

/// An output handed to a user's allocator, and the memory it last returned.
struct AllocatorBinding {
  OutputAllocator* allocator = nullptr;
  void* memory = nullptr;
  uint64_t bytes = 0;
};

struct DataDependentState {
  std::map<ir::ValueId, AllocatorBinding> allocators;

  // Set by prepare(); empty `counted` means the engine has no data-dependent layer at these shapes.
  ResolvedShapes boundShapes;            // every count at its bound: what the memory plan was made for
  std::vector<size_t> plannedBytes;      // per value: bytes reserved for it (0 for values outside the arena)
  std::vector<int> valueDependency;      // per value: the last counted node (index) it depends on, -1 none
  std::vector<int> nodeDependency;       // per node: the same for its inputs
  std::map<size_t, size_t> countSlot;    // counted node -> index of its int64 count in the count block
  size_t countsOffset = 0;               // the count block's offset in the arena
  bool needsBarriers = false;            // some device layer reads a value whose size depends on a count
  std::map<ir::ValueId, Dims> pendingDims;  // outputs' dims before any run: kDynamicDim where a count decides
  bool shapesAtBound = true;             // the node tensors hold boundShapes' dims
  bool ran = false;                      // a run completed since prepare()
  size_t resolvedBefore = 0;             // this run has resolved the counts of the nodes before this index
  std::vector<int64_t> counts;           // host copy of the count block after the last run
  void* hostCounts = nullptr;            // page-locked copy target (staging)
};

/// The last counted node each value and node depends on, through data and the shape program alike.
void analyzeCountDependencies(const ir::Graph& graph, const ShapeProgram& program, const ResolvedShapes& shapes,
                              DataDependentState& dd);

/// Output dims to report before a run: the bound shapes re-resolved with every count one below its bound (zero for
/// a bound of one); dims that differ depend on a count and read kDynamicDim. All dims of a count-dependent output
/// read kDynamicDim where that resolution fails.
std::map<ir::ValueId, Dims> pendingOutputDims(const ir::Graph& graph, const ShapeProgram& program,
                                              const std::map<ir::ValueId, Dims>& inputDims, const DataDependentState& dd);

}  // namespace kiln::runtime

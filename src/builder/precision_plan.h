// Which layers of a float32 graph may compute in FP16/BF16 (DESIGN.md rule 6): a layer runs narrow where the user
// allowed the type, no pin says otherwise, shape inference and the backend accept the node in that type, and the
// accuracy guard has not kept it in FP32. Every layer left in FP32 carries its reason.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "passes/passes.h"

namespace kiln::builder {

struct PrecisionPlan {
  DataType low = DataType::kFloat16;    // the narrow type of this build
  std::vector<bool> narrow;             // per node of the float32 graph
  std::vector<bool> floatLayer;         // a device node with float32 data: the ones a precision applies to
  std::vector<bool> pinnedNarrow;       // pinned to the narrow type under kObey: the guard may not promote it
  std::vector<std::string> fp32Reason;  // why a float layer stays FP32

  /// Keeps node `i` in FP32 for `reason` (the first reason given is kept).
  void keepFloat32(size_t i, const std::string& reason);
  size_t narrowCount() const;
};

/// The first plan for `graph` (float32, shapes annotated): every float layer narrow unless pinned to FP32 or refused
/// in `low` by shape inference or by `backend.supports`. Under kObey, a narrow pin that cannot hold is an error.
Expected<PrecisionPlan> planPrecision(ir::Graph& graph, const OptimizationProfile& profile, backends::Backend& backend,
                                      const BuilderConfig& config, DataType low);

/// The mixed graph for `plan` with shapes annotated; a node the backend refuses in the mixed graph is kept in FP32
/// (recorded in `plan`) and the graph made again.
Expected<passes::MixedGraph> makeMixedGraph(const ir::Graph& graph, PrecisionPlan& plan, backends::Backend& backend,
                                            const std::vector<OptimizationProfile>& profiles);

/// '*' matches any run of characters, '?' one character.
bool wildcardMatch(const std::string& pattern, const std::string& text);

}  // namespace kiln::builder

// Every value's dtype and dims as the profiles make them, recorded in the graph (the builder's passes read them).
#pragma once

#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"

namespace kiln::builder {

/// Resolves every tensor's shape at each profile's min/opt/max and records, per value, the dims that are the same in
/// all of them (the others become kDynamicDim). Any shape error names the profile and which of its shapes failed.
Status annotateShapes(ir::Graph& graph, const std::vector<OptimizationProfile>& profiles);

}  // namespace kiln::builder

// Checks optimization profiles against the model before anything is built.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"

namespace kiln::builder {

/// Returns the profiles completed for every input (fixed inputs get min=opt=max = their dims), or an error that says
/// which profile, input and dimension is wrong and what was expected. With no profiles and only fixed inputs, one
/// profile is made.
Expected<std::vector<OptimizationProfile>> validateProfiles(const ir::Graph& graph,
                                                            const std::vector<OptimizationProfile>& profiles);

}  // namespace kiln::builder

// Tactic timing for every device node (DESIGN.md rule 3).
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "builder/timing_cache.h"
#include "ir/graph.h"
#include "kiln/builder.h"

namespace kiln::builder {

/// Times each device node's candidate kernels at `profile`'s opt shapes and returns one tactic per node ("" where
/// there is nothing to choose, and everywhere at builderOptimizationLevel 0). `cache` answers what was timed before
/// (a timing-cache file, or an earlier round of the same build) and records what is timed now.
Expected<std::vector<std::string>> chooseTactics(const ir::Graph& graph, const OptimizationProfile& profile,
                                                 backends::Backend& backend, const BuilderConfig& config,
                                                 TimingCache& cache);

}  // namespace kiln::builder

#include <cstdio>

#include "passes/inline_control_flow.h"
#include "passes/passes.h"
#include "passes/select_empty_branch.h"

namespace kiln::passes {

Status runGraphPasses(ir::Graph& graph, const GraphPassOptions& options) {
  const bool verbose = options.verbose;
  for (int round = 0; round < 8; ++round) {
    KILN_ASSIGN_OR_RETURN(int inlined, inlineControlFlow(graph));  // If decided at build time, before folding
    // If decided by a data-dependent count, with an empty branch: data flow the shape program decides at run time.
    KILN_ASSIGN_OR_RETURN(int selected, selectEmptyBranches(graph));
    int changes = inlined + selected + removeIdentities(graph);
    KILN_ASSIGN_OR_RETURN(int folded, foldConstants(graph));
    KILN_ASSIGN_OR_RETURN(int bn, foldBatchNormIntoConv(graph));
    // After folding, so torch's scale arithmetic is a constant.
    int attention = 0;
    if (options.fuseAttention) {
      KILN_ASSIGN_OR_RETURN(attention, fuseAttention(graph));
    }
    if (verbose && attention)
      std::fprintf(stderr, "[kiln] passes round %d: %d attention blocks fused\n", round, attention);
    changes += attention;
    const int dead = removeDeadCode(graph);
    changes += folded + bn + dead;
    if (verbose)
      std::fprintf(stderr, "[kiln] passes round %d: %d constants folded, %d batchnorms folded, %d dead nodes removed\n",
                   round, folded, bn, dead);
    if (changes == 0) break;
  }
  return graph.topologicalSort();
}

}  // namespace kiln::passes

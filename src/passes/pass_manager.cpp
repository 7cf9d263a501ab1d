#include <cstdio>

#include "passes/passes.h"

namespace kiln::passes {

Status runGraphPasses(ir::Graph& graph, bool verbose) {
  for (int round = 0; round < 8; ++round) {
    int changes = removeIdentities(graph);
    KILN_ASSIGN_OR_RETURN(int folded, foldConstants(graph));
    KILN_ASSIGN_OR_RETURN(int bn, foldBatchNormIntoConv(graph));
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

#include "passes/passes.h"

namespace kiln::passes {

int removeDeadCode(ir::Graph& graph) { return graph.removeDeadNodes(); }

}  // namespace kiln::passes

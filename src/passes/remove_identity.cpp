#include "passes/passes.h"

namespace kiln::passes {

int removeIdentities(ir::Graph& graph) {
  int removed = 0;
  for (auto& node : graph.nodes) {
    if (node.op != ir::OpKind::kIdentity || node.inputs.size() != 1 || node.outputs.size() != 1) continue;
    const ir::ValueId in = node.inputs[0], out = node.outputs[0];
    // A graph output keeps its name: leave that Identity (a copy) in place.
    if (in == ir::kNoValue || graph.isGraphOutput(out)) continue;
    graph.replaceAllUses(out, in);
    ++removed;
  }
  if (removed) graph.removeDeadNodes();
  return removed;
}

}  // namespace kiln::passes

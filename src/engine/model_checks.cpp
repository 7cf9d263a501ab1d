// Consistency checks of an EngineModel shared by the writer and the reader (a written file always reads back).
#include <algorithm>

#include "engine/sections.h"
#include "ir/verifier.h"

namespace kiln::engine {
namespace {

// Nodes must come in topological order: the tactics list is indexed by node position, so the reader cannot
// re-sort them, and the runtime executes nodes in file order.
Status checkNodeOrder(const ir::Graph& graph) {
  std::vector<char> defined(graph.values.size(), 0);
  for (ir::ValueId v : graph.inputs)
    if (v >= 0 && static_cast<size_t>(v) < defined.size()) defined[v] = 1;
  for (const auto& [v, t] : graph.constants)
    if (v >= 0 && static_cast<size_t>(v) < defined.size()) defined[v] = 1;
  for (const ir::Node& node : graph.nodes) {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ir::ValueId v = node.inputs[i];
      if (v == ir::kNoValue) continue;
      if (v < 0 || static_cast<size_t>(v) >= defined.size() || !defined[v])
        return invalidArgument(graph.describe(node) + " input " + std::to_string(i) + " '" + graph.valueName(v) +
                               "' is not a graph input, a constant or the output of an earlier node");
    }
    for (ir::ValueId v : node.outputs)
      if (v >= 0 && static_cast<size_t>(v) < defined.size()) defined[v] = 1;
  }
  return Status::ok();
}

}  // namespace

// The graph checks the writer and the reader share, so that every file written can be read back.
Status checkEngineModel(const EngineModel& model) {
  if (model.tactics.size() != model.graph.nodes.size())
    return invalidArgument("the engine has " + std::to_string(model.tactics.size()) + " tactics for " +
                           std::to_string(model.graph.nodes.size()) + " nodes (expected one per node)");
  for (const auto& profile : model.profiles)
    for (const InputShapeRange& r : profile.inputs) {
      const ir::ValueId v = model.graph.findValue(r.name);
      if (v == ir::kNoValue || std::find(model.graph.inputs.begin(), model.graph.inputs.end(), v) ==
                                   model.graph.inputs.end())
        return invalidArgument("optimization profile input '" + r.name + "' is not a graph input");
      const ir::Value& value = model.graph.values[v];
      if (value.rankKnown && value.dims.size() != r.min.size())
        return invalidArgument("optimization profile input '" + r.name + "' has rank " +
                               std::to_string(r.min.size()) + " but the graph input has rank " +
                               std::to_string(value.dims.size()));
    }
  ir::Graph copy = model.graph;  // verifyGraph may reorder nodes; the original order must stay
  KILN_RETURN_IF_ERROR(ir::verifyGraph(copy));
  return checkNodeOrder(model.graph);
}

}  // namespace kiln::engine

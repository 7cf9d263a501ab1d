#include "onnx/subgraph_import.h"

#include <algorithm>

namespace kiln::onnx {

Status importIfBranches(const ::onnx::ModelProto& model, const ::onnx::NodeProto& proto, ir::Node& node,
                        int64_t opset, const std::string& baseDir, const ImportOptions& options,
                        const OuterScope& scope) {
  if (node.inputs.size() != 1 || node.inputs[0] == ir::kNoValue)
    return invalidModel("If takes exactly one input, 'cond'; found " + std::to_string(proto.input_size()));
  const ::onnx::GraphProto* branches[2] = {nullptr, nullptr};
  static constexpr const char* kNames[2] = {"then_branch", "else_branch"};
  for (const auto& a : proto.attribute()) {
    const auto it = std::find(std::begin(kNames), std::end(kNames), a.name());
    if (it == std::end(kNames)) return invalidModel("attribute '" + a.name() + "' is not an attribute of If");
    if (!a.has_g()) return invalidModel("attribute '" + a.name() + "' must hold a graph");
    const auto k = it - std::begin(kNames);
    if (branches[k]) return invalidModel("attribute '" + a.name() + "' appears twice");
    branches[k] = &a.g();
  }
  ImportedSubgraph imported[2];
  for (int k = 0; k < 2; ++k) {
    if (!branches[k]) return invalidModel(std::string("the required attribute '") + kNames[k] + "' is missing");
    auto sub = importSubgraph(model, *branches[k], opset, baseDir, options, scope);
    if (!sub) {
      // "the model cannot be imported (...)" would read as if the whole model were listed; say which branch.
      std::string message = sub.status().message();
      const std::string prefix = "the model cannot be imported";
      if (message.rfind(prefix, 0) == 0) message = std::string("its ") + kNames[k] + " cannot be imported" +
                                                   message.substr(prefix.size());
      return Status(sub.status().code(), message);
    }
    imported[k] = std::move(sub).value();
  }
  if (imported[0].graph->outputs.size() != imported[1].graph->outputs.size())
    return invalidModel("then_branch has " + std::to_string(imported[0].graph->outputs.size()) +
                        " outputs and else_branch " + std::to_string(imported[1].graph->outputs.size()) +
                        "; both must have one per output of the If");
  if (imported[0].graph->outputs.size() < static_cast<size_t>(proto.output_size()))
    return invalidModel("the node has " + std::to_string(proto.output_size()) + " outputs but its branches " +
                        std::to_string(imported[0].graph->outputs.size()));
  // One list of outer values for both branches: each branch's inputs follow it, unused ones included.
  std::vector<ir::ValueId> outer;
  for (const auto& sub : imported)
    for (ir::ValueId v : sub.outerValues)
      if (std::find(outer.begin(), outer.end(), v) == outer.end()) outer.push_back(v);
  for (int k = 0; k < 2; ++k) {
    ir::Graph& g = *imported[k].graph;
    std::vector<ir::ValueId> inputs;
    for (ir::ValueId v : outer) {
      const auto& mine = imported[k].outerValues;
      const auto at = std::find(mine.begin(), mine.end(), v);
      if (at != mine.end()) {
        inputs.push_back(g.inputs[at - mine.begin()]);
        continue;
      }
      inputs.push_back(g.addValue("outer_" + std::to_string(v)));  // read by the other branch only
    }
    g.inputs = std::move(inputs);
    node.subgraphs[kNames[k]] = std::move(imported[k].graph);
  }
  node.inputs.insert(node.inputs.end(), outer.begin(), outer.end());
  return Status::ok();
}

}  // namespace kiln::onnx

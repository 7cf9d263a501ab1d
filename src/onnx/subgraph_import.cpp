#include "onnx/subgraph_import.h"

#include <algorithm>

namespace kiln::onnx {
namespace {

// "the model cannot be imported (...)" would read as if the whole model were listed; say which subgraph.
Status subgraphProblem(const Status& status, const std::string& attribute) {
  std::string message = status.message();
  const std::string prefix = "the model cannot be imported";
  if (message.rfind(prefix, 0) == 0)
    message = "its " + attribute + " cannot be imported" + message.substr(prefix.size());
  return Status(status.code(), message);
}

}  // namespace

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
    if (branches[k]->input_size() != 0)
      return invalidModel(std::string(kNames[k]) + " declares " + std::to_string(branches[k]->input_size()) +
                          " inputs; If's branches take none (they read outer-scope values by name)");
    auto sub = importSubgraph(model, *branches[k], opset, baseDir, options, scope);
    if (!sub) return subgraphProblem(sub.status(), kNames[k]);
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

Status importLoopBody(const ::onnx::ModelProto& model, const ::onnx::NodeProto& proto, ir::Node& node, int64_t opset,
                      const std::string& baseDir, const ImportOptions& options, const OuterScope& scope) {
  if (node.inputs.size() < 2)
    return invalidModel("Loop takes inputs M, cond and the initial loop-carried values (M and cond may be empty); "
                        "found " + std::to_string(node.inputs.size()));
  const ::onnx::GraphProto* body = nullptr;
  for (const auto& a : proto.attribute()) {
    if (a.name() != "body") return invalidModel("attribute '" + a.name() + "' is not an attribute of Loop");
    if (!a.has_g()) return invalidModel("attribute 'body' must hold a graph");
    if (body) return invalidModel("attribute 'body' appears twice");
    body = &a.g();
  }
  if (!body) return invalidModel("the required attribute 'body' is missing");
  const size_t carried = node.inputs.size() - 2;
  if (static_cast<size_t>(body->input_size()) != carried + 2)
    return invalidModel("the body has " + std::to_string(body->input_size()) + " inputs; it needs " +
                        std::to_string(carried + 2) + " (iteration number, condition, " + std::to_string(carried) +
                        " loop-carried values)");
  if (static_cast<size_t>(body->output_size()) < carried + 1 ||
      static_cast<size_t>(body->output_size()) - carried - 1 + carried < static_cast<size_t>(proto.output_size()))
    return invalidModel("the body has " + std::to_string(body->output_size()) + " outputs; it needs the condition, " +
                        std::to_string(carried) + " loop-carried values and one per scan output of the node (" +
                        std::to_string(proto.output_size()) + " node outputs in all)");
  auto sub = importSubgraph(model, *body, opset, baseDir, options, scope);
  if (!sub) return subgraphProblem(sub.status(), "body");
  if (sub->graph->inputs.size() != carried + 2 + sub->outerValues.size())
    return invalidModel("the body's inputs could not all be imported");
  node.inputs.insert(node.inputs.end(), sub->outerValues.begin(), sub->outerValues.end());
  // Which body inputs after (iteration, cond) are loop-carried; the outer values follow them.
  node.attrs.set("carried_count", static_cast<int64_t>(carried));
  node.subgraphs["body"] = std::move(sub->graph);
  return Status::ok();
}

}  // namespace kiln::onnx

#include "passes/inline_control_flow.h"

#include <map>
#include <set>

#include "runtime/shape_program.h"

namespace kiln::passes {
namespace {

const char* branchFor(const Tensor& cond) {
  bool value = false;
  switch (cond.dtype()) {
    case DataType::kBool: value = cond.dataAs<uint8_t>()[0] != 0; break;
    case DataType::kInt64: value = cond.dataAs<int64_t>()[0] != 0; break;
    case DataType::kInt32: value = cond.dataAs<int32_t>()[0] != 0; break;
    default: return nullptr;
  }
  return value ? "then_branch" : "else_branch";
}

// Which dims a host-computed condition reads: "dim 1 of 'x'" where a Gather with constant indices picks them out of
// Shape(x) (as torch writes x.shape[1]), otherwise every dim of each Shape/Size input in its cone.
std::string shapeDependencies(const ir::Graph& graph, ir::ValueId cond) {
  std::map<ir::ValueId, std::set<int64_t>> read;  // value -> dims; -1 for all of them
  std::set<ir::ValueId> seen;
  std::vector<ir::ValueId> stack{cond};
  auto shapeInput = [&](ir::ValueId v) -> ir::ValueId {
    const int32_t p = v == ir::kNoValue ? -1 : graph.values[v].producer;
    if (p < 0 || graph.nodes[p].op != ir::OpKind::kShape || graph.nodes[p].inputs.empty()) return ir::kNoValue;
    return graph.nodes[p].inputs[0];
  };
  while (!stack.empty()) {
    const ir::ValueId v = stack.back();
    stack.pop_back();
    if (v == ir::kNoValue || !seen.insert(v).second) continue;
    const int32_t p = graph.values[v].producer;
    if (p < 0) continue;
    const ir::Node& n = graph.nodes[p];
    if ((n.op == ir::OpKind::kShape || n.op == ir::OpKind::kSize) && !n.inputs.empty()) {
      read[n.inputs[0]].insert(-1);
      continue;
    }
    if (n.op == ir::OpKind::kGather && n.inputs.size() == 2 && n.attrs.getInt("axis", 0) == 0) {
      const ir::ValueId x = shapeInput(n.inputs[0]);
      const Tensor* indices = graph.constantOf(n.inputs[1]);
      if (x != ir::kNoValue && indices && indices->dtype() == DataType::kInt64 && graph.values[x].rankKnown) {
        const auto rank = static_cast<int64_t>(graph.values[x].dims.size());
        for (int64_t i = 0; i < indices->elementCount(); ++i) {
          const int64_t d = indices->dataAs<int64_t>()[i];
          read[x].insert(d < 0 ? d + rank : d);
        }
        continue;
      }
    }
    for (ir::ValueId in : n.inputs) stack.push_back(in);
  }
  std::string text;
  for (const auto& [v, dims] : read) {
    const ir::Value& value = graph.values[v];
    std::string list;
    if (dims.count(-1) || !value.rankKnown) {
      for (size_t i = 0; i < value.dims.size(); ++i)
        if (value.dims[i] < 0) list += (list.empty() ? "" : ",") + std::to_string(i);
    } else {
      for (int64_t d : dims)
        if (d >= 0 && d < static_cast<int64_t>(value.dims.size()) && value.dims[d] < 0)
          list += (list.empty() ? "" : ",") + std::to_string(d);
    }
    if (list.empty() && value.rankKnown) continue;
    text += (text.empty() ? "" : "; ") + std::string(list.find(',') == std::string::npos ? "dim " : "dims ") +
            (list.empty() ? "?" : list) + " of '" + value.name + "' " +
            (value.rankKnown ? dimsToString(value.dims) : std::string("(rank unknown)"));
  }
  return text.empty() ? "values computed on the host" : text;
}

// Appends the chosen branch's nodes to `graph`, wired to the If's inputs and outputs.
Status inlineBranch(ir::Graph& graph, const ir::Node& ifNode, const ir::Graph& branch, const char* branchName,
                    std::vector<ir::Node>& added) {
  const std::string where = graph.describe(ifNode) + ": ";
  if (branch.inputs.size() + 1 != ifNode.inputs.size())
    return internalError(where + branchName + " reads " + std::to_string(branch.inputs.size()) +
                         " outer values but the node passes " + std::to_string(ifNode.inputs.size() - 1));
  if (branch.outputs.size() < ifNode.outputs.size())
    return invalidModel(where + branchName + " has " + std::to_string(branch.outputs.size()) + " outputs; the node " +
                        std::to_string(ifNode.outputs.size()));
  const std::string prefix = ifNode.name + "/";
  std::vector<ir::ValueId> map(branch.values.size(), ir::kNoValue);
  for (size_t k = 0; k < branch.inputs.size(); ++k) map[branch.inputs[k]] = ifNode.inputs[k + 1];
  for (const auto& [id, tensor] : branch.constants) map[id] = graph.addConstant(prefix + branch.values[id].name, tensor);
  // A branch output made by a branch node is written straight into the If's output (which keeps its name: it may be
  // a graph output); outer values, constants and repeated outputs are copied in by an Identity.
  std::vector<bool> copied(ifNode.outputs.size(), false);
  for (size_t i = 0; i < ifNode.outputs.size(); ++i) {
    const ir::ValueId b = branch.outputs[i];
    if (branch.values[b].producer >= 0 && map[b] == ir::kNoValue) map[b] = ifNode.outputs[i];
    else copied[i] = true;
  }
  for (const ir::Node& bn : branch.nodes) {
    ir::Node node = bn;
    node.name = prefix + bn.name;
    for (ir::ValueId& in : node.inputs)
      if (in != ir::kNoValue) in = map[in];
    for (ir::ValueId& out : node.outputs) {
      if (map[out] == ir::kNoValue) {
        ir::Value value = branch.values[out];
        const ir::ValueId id = graph.addValue(prefix + value.name, value.dtype);
        value.name = graph.values[id].name;
        value.producer = -1;
        graph.values[id] = std::move(value);
        map[out] = id;
      }
      out = map[out];
    }
    added.push_back(std::move(node));
  }
  for (size_t i = 0; i < ifNode.outputs.size(); ++i) {
    ir::Value& target = graph.values[ifNode.outputs[i]];
    const ir::Value& source = branch.values[branch.outputs[i]];
    if (target.dtype == DataType::kUndefined) target.dtype = source.dtype;
    if (!target.rankKnown && source.rankKnown) {
      target.rankKnown = true;
      target.dims = source.dims;
    }
    if (copied[i])
      added.push_back(ir::Node{prefix + "output_" + std::to_string(i), ir::OpKind::kIdentity,
                               {map[branch.outputs[i]]}, {ifNode.outputs[i]}, {}, {}});
  }
  return Status::ok();
}

}  // namespace

Expected<int> inlineControlFlow(ir::Graph& graph) {
  int inlined = 0;
  // A branch may hold an If whose condition is now constant: go round until none is left to inline.
  for (bool again = true; again;) {
    again = false;
    const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
    std::vector<ir::Node> added;
    std::vector<bool> erase(graph.nodes.size(), false);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const ir::Node& n = graph.nodes[i];
      if (n.op != ir::OpKind::kIf) continue;
      if (n.inputs.empty() || n.inputs[0] == ir::kNoValue)
        return invalidModel(graph.describe(n) + ": input 'cond' is missing");
      const ir::ValueId cond = n.inputs[0];
      if (!program.hostValue[cond])
        return unsupported(graph.describe(n) + ": the condition '" + graph.valueName(cond) +
                           "' depends on tensor data, not only on shapes; kiln runs If only when its condition is "
                           "known at build time (If on the device is not implemented yet)");
      const Tensor* value = graph.constantOf(cond);
      if (value == nullptr) continue;  // computed from dims the profile may still fix
      if (value->elementCount() != 1)
        return invalidModel(graph.describe(n) + ": the condition must hold one element; it has shape " +
                            dimsToString(value->dims()));
      const char* name = branchFor(*value);
      if (name == nullptr)
        return invalidModel(graph.describe(n) + ": the condition must be a bool tensor; it is " +
                            dataTypeName(value->dtype()));
      const auto branch = n.subgraphs.find(name);
      if (branch == n.subgraphs.end() || !branch->second)
        return invalidModel(graph.describe(n) + ": the node has no " + name + " subgraph");
      KILN_RETURN_IF_ERROR(inlineBranch(graph, n, *branch->second, name, added));
      erase[i] = true;
      ++inlined;
      again = true;
    }
    if (!again) break;
    for (ir::Node& node : added) graph.nodes.push_back(std::move(node));
    erase.resize(graph.nodes.size(), false);
    KILN_RETURN_IF_ERROR(graph.eraseNodes(erase));
  }
  return inlined;
}

Status checkControlFlowResolved(const ir::Graph& graph) {
  for (const ir::Node& n : graph.nodes) {
    if (n.op != ir::OpKind::kIf || n.inputs.empty()) continue;
    return unsupported(graph.describe(n) + ": the condition '" + graph.valueName(n.inputs[0]) +
                       "' depends on dims that vary within the optimization profile: " +
                       shapeDependencies(graph, n.inputs[0]) +
                       "; kiln inlines If only where its condition is fixed for the whole profile: fix those dims "
                       "(min = max) or build one profile per branch");
  }
  return Status::ok();
}

}  // namespace kiln::passes

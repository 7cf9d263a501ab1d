#include "passes/inline_control_flow.h"

#include <algorithm>
#include <map>
#include <set>

#include "passes/select_empty_branch.h"
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

// Appends copies of `sub`'s constants and nodes to the graph ("<prefix><name>"). `map` (sub value -> graph value)
// comes seeded with the sub's inputs and any values to write into directly; the rest get new values.
void cloneSubgraph(ir::Graph& graph, const ir::Graph& sub, const std::string& prefix, std::vector<ir::ValueId>& map,
                   std::vector<ir::Node>& added) {
  for (const auto& [id, tensor] : sub.constants)
    if (map[id] == ir::kNoValue) map[id] = graph.addConstant(prefix + sub.values[id].name, tensor);
  for (const ir::Node& sn : sub.nodes) {
    ir::Node node = sn;
    node.name = prefix + sn.name;
    for (ir::ValueId& in : node.inputs)
      if (in != ir::kNoValue) in = map[in];
    for (ir::ValueId& out : node.outputs) {
      if (map[out] == ir::kNoValue) {
        ir::Value value = sub.values[out];
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
}

}  // namespace

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
  // A branch output made by a branch node is written straight into the If's output (which keeps its name: it may be
  // a graph output); outer values, constants and repeated outputs are copied in by an Identity.
  std::vector<bool> copied(ifNode.outputs.size(), false);
  for (size_t i = 0; i < ifNode.outputs.size(); ++i) {
    const ir::ValueId b = branch.outputs[i];
    if (branch.values[b].producer >= 0 && map[b] == ir::kNoValue) map[b] = ifNode.outputs[i];
    else copied[i] = true;
  }
  cloneSubgraph(graph, branch, prefix, map, added);
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

namespace {

// Loops are unrolled only when that is small: torch's `for i in range(3)` and ONNX's expanded functions.
constexpr int64_t kMaxUnrolledIterations = 64;

bool isTrue(const Tensor& t) { return t.elementCount() == 1 && branchFor(t) == std::string("then_branch"); }

// The body's condition output is its condition input passed on (through Identity) or a constant true (its own, or
// an outer one as torch writes it), so a Loop that starts runs all M iterations.
bool conditionStaysTrue(const ir::Graph& graph, const ir::Node& loop, const ir::Graph& body, int64_t carried) {
  ir::ValueId v = body.outputs[0];
  for (size_t hops = 0; hops <= body.nodes.size(); ++hops) {
    if (v == body.inputs[1]) return true;
    if (const Tensor* t = body.constantOf(v)) return isTrue(*t);
    for (size_t k = 2 + static_cast<size_t>(carried); k < body.inputs.size(); ++k)
      if (v == body.inputs[k]) {
        const Tensor* outer = graph.constantOf(loop.inputs[k]);
        return outer && isTrue(*outer);
      }
    const int32_t p = body.values[v].producer;
    if (p < 0 || body.nodes[p].op != ir::OpKind::kIdentity || body.nodes[p].inputs.empty()) return false;
    v = body.nodes[p].inputs[0];
  }
  return false;
}

ir::ValueId scalarConstant(ir::Graph& graph, const std::string& name, DataType type, int64_t value) {
  Tensor t = Tensor::allocate(type, {}).value();  // one element: cannot fail
  if (type == DataType::kBool) t.dataAs<uint8_t>()[0] = value != 0;
  else t.dataAs<int64_t>()[0] = value;
  return graph.addConstant(name, std::move(t));
}

// Unrolls `loop` when its trip count and condition are constants. Returns false (nothing done) when they are computed
// on the host from dims that are still dynamic; refuses what kiln cannot unroll, naming the node.
Expected<bool> unrollLoop(ir::Graph& graph, const ir::Node& loop, const runtime::ShapeProgram& program,
                          std::vector<ir::Node>& added) {
  const std::string where = graph.describe(loop) + ": ";
  const auto found = loop.subgraphs.find("body");
  if (found == loop.subgraphs.end() || !found->second) return invalidModel(where + "the node has no body subgraph");
  const ir::Graph& body = *found->second;
  const int64_t carried = loop.attrs.getInt("carried_count", -1);
  if (loop.inputs.size() < 2 || carried < 0 || body.inputs.size() != loop.inputs.size() ||
      body.outputs.size() < static_cast<size_t>(1 + carried))
    return internalError(where + "the node and its body do not line up");
  const ir::ValueId tripCount = loop.inputs[0], condition = loop.inputs[1];
  if (tripCount == ir::kNoValue)
    return unsupported(where + "the Loop has no trip count M (a while loop); kiln unrolls only Loops whose trip count "
                       "is known at build time");
  for (ir::ValueId v : {tripCount, condition})
    if (v != ir::kNoValue && !program.hostValue[v])
      return unsupported(where + "input '" + graph.valueName(v) + "' depends on tensor data, not only on shapes; "
                         "kiln unrolls a Loop only when its trip count and condition are known at build time (Loop "
                         "on the device is not implemented yet)");
  const Tensor* m = graph.constantOf(tripCount);
  const Tensor* c = condition == ir::kNoValue ? nullptr : graph.constantOf(condition);
  if (!m || (condition != ir::kNoValue && !c)) return false;  // computed from dims the profile may still fix
  if (m->elementCount() != 1 || m->dtype() != DataType::kInt64)
    return invalidModel(where + "the trip count must be one int64; it is " + dataTypeName(m->dtype()) + " " +
                        dimsToString(m->dims()));
  int64_t trips = std::max<int64_t>(m->dataAs<int64_t>()[0], 0);
  if (c && !isTrue(*c)) trips = 0;
  if (trips > kMaxUnrolledIterations)
    return unsupported(where + "the trip count is " + std::to_string(trips) + "; kiln unrolls Loops of at most " +
                       std::to_string(kMaxUnrolledIterations) + " iterations");
  if (trips > 0 && !conditionStaysTrue(graph, loop, body, carried))
    return unsupported(where + "the body computes its condition output '" + body.valueName(body.outputs[0]) +
                       "'; kiln unrolls a Loop only when it runs all its iterations (the body passes its condition on "
                       "or returns true)");
  const size_t scans = loop.outputs.size() > static_cast<size_t>(carried) ? loop.outputs.size() - carried : 0;
  if (trips == 0 && scans > 0)
    return unsupported(where + "the Loop runs no iteration but has scan outputs, whose shape kiln cannot tell");

  std::vector<ir::ValueId> current(loop.inputs.begin() + 2, loop.inputs.begin() + 2 + carried);
  std::vector<std::vector<ir::ValueId>> scanned(scans);
  ir::ValueId cond = condition;
  for (int64_t it = 0; it < trips; ++it) {
    const std::string prefix = loop.name + "/" + std::to_string(it) + "/";
    std::vector<ir::ValueId> map(body.values.size(), ir::kNoValue);
    map[body.inputs[0]] = scalarConstant(graph, prefix + "iteration", DataType::kInt64, it);
    if (cond == ir::kNoValue) cond = scalarConstant(graph, loop.name + "/condition", DataType::kBool, 1);
    map[body.inputs[1]] = cond;
    for (size_t k = 2; k < body.inputs.size(); ++k)
      map[body.inputs[k]] = k < 2 + static_cast<size_t>(carried) ? current[k - 2] : loop.inputs[k];
    cloneSubgraph(graph, body, prefix, map, added);
    for (int64_t k = 0; k < carried; ++k) current[k] = map[body.outputs[1 + k]];
    for (size_t j = 0; j < scans; ++j) scanned[j].push_back(map[body.outputs[1 + carried + j]]);
  }
  for (int64_t k = 0; k < carried && static_cast<size_t>(k) < loop.outputs.size(); ++k)
    added.push_back(ir::Node{loop.name + "/final_" + std::to_string(k), ir::OpKind::kIdentity, {current[k]},
                             {loop.outputs[k]}, {}, {}});
  // Scan outputs: the per-iteration values stacked on a new axis 0.
  for (size_t j = 0; j < scans; ++j) {
    const std::string name = loop.name + "/scan_" + std::to_string(j);
    Tensor axes = Tensor::allocate(DataType::kInt64, {1}).value();
    axes.dataAs<int64_t>()[0] = 0;
    const ir::ValueId axesId = graph.addConstant(name + "_axes", std::move(axes));
    ir::Node concat{name, ir::OpKind::kConcat, {}, {loop.outputs[carried + j]}, {}, {}};
    concat.attrs.set("axis", int64_t{0});
    for (size_t it = 0; it < scanned[j].size(); ++it) {
      const ir::ValueId v = scanned[j][it];
      const ir::ValueId row = graph.addValue(name + "_" + std::to_string(it), graph.values[v].dtype);
      added.push_back(ir::Node{name + "_unsqueeze_" + std::to_string(it), ir::OpKind::kUnsqueeze, {v, axesId}, {row},
                               {}, {}});
      concat.inputs.push_back(row);
    }
    added.push_back(std::move(concat));
  }
  return true;
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
      if (n.op == ir::OpKind::kLoop) {
        KILN_ASSIGN_OR_RETURN(bool unrolled, unrollLoop(graph, n, program, added));
        if (!unrolled) continue;
        erase[i] = true;
        ++inlined;
        again = true;
        continue;
      }
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
  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
  const std::vector<bool> countDependent = countDependentValues(graph, program);
  for (const ir::Node& n : graph.nodes) {
    if (n.op == ir::OpKind::kLoop)
      return unsupported(graph.describe(n) + ": its trip count or condition depends on dims that vary within the "
                         "optimization profile; kiln unrolls a Loop only where both are fixed for the whole profile");
    if (n.op != ir::OpKind::kIf || n.inputs.empty()) continue;
    if (n.inputs[0] != ir::kNoValue && countDependent[n.inputs[0]])
      return unsupported(graph.describe(n) + ": the condition '" + graph.valueName(n.inputs[0]) +
                         "' depends on how many elements a data-dependent layer (NonZero, NonMaxSuppression, ...) "
                         "gives at run time; kiln runs such an If only where one branch outputs empty constants "
                         "(passes/select_empty_branch.cpp)");
    return unsupported(graph.describe(n) + ": the condition '" + graph.valueName(n.inputs[0]) +
                       "' depends on dims that vary within the optimization profile: " +
                       shapeDependencies(graph, n.inputs[0]) +
                       "; kiln inlines If only where its condition is fixed for the whole profile: fix those dims "
                       "(min = max) or build one profile per branch");
  }
  return Status::ok();
}

}  // namespace kiln::passes

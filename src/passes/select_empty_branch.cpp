#include "passes/select_empty_branch.h"

#include <limits>

#include "passes/inline_control_flow.h"
#include "runtime/shape_program.h"

namespace kiln::passes {

std::vector<bool> countDependentValues(const ir::Graph& graph, const runtime::ShapeProgram& program) {
  std::vector<bool> dependent(graph.values.size(), false);
  auto isSource = [&](const ir::Node& n) {
    switch (n.op) {
      case ir::OpKind::kNonZero:
      case ir::OpKind::kUnique:
      case ir::OpKind::kNonMaxSuppression:
        return true;
      case ir::OpKind::kTopK:
      case ir::OpKind::kCompress:
        return n.inputs.size() > 1 && n.inputs[1] != ir::kNoValue && !program.hostValue[n.inputs[1]];
      default:
        return false;
    }
  };
  // Nodes are in topological order after every pass, but going round until
  // nothing changes does not rely on it.
  for (bool changed = true; changed;) {
    changed = false;
    for (const ir::Node& n : graph.nodes) {
      bool d = isSource(n);
      for (ir::ValueId in : n.inputs) d = d || (in != ir::kNoValue && dependent[in]);
      if (!d) continue;
      for (ir::ValueId out : n.outputs)
        if (!dependent[out]) dependent[out] = changed = true;
    }
  }
  return dependent;
}

namespace {

// The branch's outputs as constants with no elements, or an empty vector when
// any is something else.
std::vector<const Tensor*> emptyConstants(const ir::Graph& branch, size_t outputs) {
  std::vector<const Tensor*> result;
  if (branch.outputs.size() < outputs) return {};
  for (size_t k = 0; k < outputs; ++k) {
    const Tensor* t = branch.constantOf(branch.outputs[k]);
    if (!t || t->elementCount() != 0) return {};
    result.push_back(t);
  }
  return result;
}

Tensor int64Vector(const std::vector<int64_t>& values) {
  Tensor t = Tensor::allocate(DataType::kInt64, {static_cast<int64_t>(values.size())}).value();  // small: cannot fail
  for (size_t i = 0; i < values.size(); ++i) t.dataAs<int64_t>()[i] = values[i];
  return t;
}

ir::Node makeNode(const std::string& name, ir::OpKind op, std::vector<ir::ValueId> inputs,
                  std::vector<ir::ValueId> outputs) {
  return ir::Node{name, op, std::move(inputs), std::move(outputs), {}, {}};
}

// Replaces If `ifNode` by its working branch `workName` and the Slice/Reshape
// selection (header comment); `empty` holds the other branch's constants, one
// per output.
Status selectBranch(ir::Graph& graph, const ir::Node& ifNode, const char* workName, const ir::Graph& work,
                    const std::vector<const Tensor*>& empty, std::vector<ir::Node>& added) {
  const std::string where = graph.describe(ifNode) + ": ";
  const std::string prefix = ifNode.name + "/";
  const bool workWhenTrue = std::string(workName) == "then_branch";
  const char* emptyName = workWhenTrue ? "else_branch" : "then_branch";
  if (work.outputs.size() < ifNode.outputs.size())
    return invalidModel(where + workName + " has " + std::to_string(work.outputs.size()) + " outputs; the node has " +
                        std::to_string(ifNode.outputs.size()));
  for (size_t k = 0; k < ifNode.outputs.size(); ++k) {
    const ir::Value& out = work.values[work.outputs[k]];
    const Tensor& e = *empty[k];
    if (out.dtype != DataType::kUndefined && out.dtype != e.dtype())
      return invalidModel(where + "output " + std::to_string(k) + " is " + dataTypeName(out.dtype) + " in " + workName +
                          " but " + dataTypeName(e.dtype()) + " in " + emptyName + "; both branches must agree");
    if (out.rankKnown && out.dims.size() != e.dims().size())
      return unsupported(where + "output " + std::to_string(k) + " has rank " + std::to_string(out.dims.size()) +
                         " in " + workName + " but rank " + std::to_string(e.dims().size()) + " in " + emptyName +
                         " (an empty " + dimsToString(e.dims()) + "); kiln selects between the branches of an If " +
                         "decided by a data-dependent count only where both "
                         "give the same rank");
  }
  // The working branch writes into fresh values; the selection writes the If's
  // outputs (which keep their names).
  ir::Node inlined = ifNode;
  for (size_t k = 0; k < inlined.outputs.size(); ++k)
    inlined.outputs[k] =
        graph.addValue(prefix + workName + "_output_" + std::to_string(k), work.values[work.outputs[k]].dtype);
  KILN_RETURN_IF_ERROR(inlineBranch(graph, inlined, work, workName, added));

  ir::ValueId cond = ifNode.inputs[0];
  if (graph.values[cond].dtype != DataType::kBool) {  // Where needs a bool; If accepts what kiln reads as one
    const ir::ValueId asBool = graph.addValue(prefix + "condition_bool", DataType::kBool);
    ir::Node cast = makeNode(prefix + "condition_bool", ir::OpKind::kCast, {cond}, {asBool});
    cast.attrs.set("to", static_cast<int64_t>(DataType::kBool));
    added.push_back(std::move(cast));
    cond = asBool;
  }
  // where(taken, a, b) with `taken` the working branch's condition.
  auto select = [&](const std::string& name, ir::ValueId whenTaken, ir::ValueId otherwise) {
    const ir::ValueId v = graph.addValue(prefix + name, DataType::kInt64);
    added.push_back(makeNode(prefix + name, ir::OpKind::kWhere,
                             {cond, workWhenTrue ? whenTaken : otherwise, workWhenTrue ? otherwise : whenTaken}, {v}));
    return v;
  };
  const ir::ValueId zero = graph.addConstant(prefix + "zero", int64Vector({0}));
  const ir::ValueId all = graph.addConstant(prefix + "all", int64Vector({std::numeric_limits<int64_t>::max()}));
  const ir::ValueId end = select("select_end", all, zero);
  for (size_t k = 0; k < ifNode.outputs.size(); ++k) {
    const Tensor& e = *empty[k];
    const std::string name = prefix + "select_" + std::to_string(k);
    int64_t axis = 0;
    while (e.dims()[axis] != 0) ++axis;  // an empty tensor has a zero dim
    const ir::ValueId axes = graph.addConstant(name + "_axis", int64Vector({axis}));
    const ir::Value& out = work.values[work.outputs[k]];
    const bool reshape = !(e.dims().size() == 1 && out.rankKnown && out.dims.size() == 1);
    const ir::ValueId sliced = reshape ? graph.addValue(name + "_slice", out.dtype) : ifNode.outputs[k];
    added.push_back(makeNode(name + "_slice", ir::OpKind::kSlice, {inlined.outputs[k], zero, end, axes}, {sliced}));
    if (!reshape) continue;
    const ir::ValueId shape = graph.addValue(name + "_shape", DataType::kInt64);
    added.push_back(makeNode(name + "_shape", ir::OpKind::kShape, {sliced}, {shape}));
    const ir::ValueId emptyDims = graph.addConstant(name + "_empty_dims", int64Vector(e.dims()));
    const ir::ValueId target = select("select_" + std::to_string(k) + "_dims", shape, emptyDims);
    ir::Node node = makeNode(name, ir::OpKind::kReshape, {sliced, target}, {ifNode.outputs[k]});
    node.attrs.set("allowzero", int64_t{1});  // the empty dims' zero is a size, not "copy the input's dim"
    added.push_back(std::move(node));
  }
  return Status::ok();
}

}  // namespace

Expected<int> selectEmptyBranches(ir::Graph& graph) {
  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
  const std::vector<bool> dependent = countDependentValues(graph, program);
  std::vector<ir::Node> added;
  std::vector<bool> erase(graph.nodes.size(), false);
  int selected = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    if (n.op != ir::OpKind::kIf || n.inputs.empty() || n.inputs[0] == ir::kNoValue) continue;
    const ir::ValueId cond = n.inputs[0];
    // Conditions on tensor data are refused by inlineControlFlow; constant ones
    // it inlines; ones on dynamic dims the profile may still fix. Only a count
    // decides after the build.
    if (!program.hostValue[cond] || graph.isConstant(cond) || !dependent[cond]) continue;
    const auto thenIt = n.subgraphs.find("then_branch"), elseIt = n.subgraphs.find("else_branch");
    if (thenIt == n.subgraphs.end() || !thenIt->second || elseIt == n.subgraphs.end() || !elseIt->second) continue;
    const std::vector<const Tensor*> thenEmpty = emptyConstants(*thenIt->second, n.outputs.size());
    const std::vector<const Tensor*> elseEmpty = emptyConstants(*elseIt->second, n.outputs.size());
    if (n.outputs.empty() || (thenEmpty.empty() && elseEmpty.empty()))
      continue;  // runtime/control_flow_shapes.cpp refuses
    const bool workIsElse = !thenEmpty.empty();
    KILN_RETURN_IF_ERROR(selectBranch(graph, n, workIsElse ? "else_branch" : "then_branch",
                                      workIsElse ? *elseIt->second : *thenIt->second,
                                      workIsElse ? thenEmpty : elseEmpty, added));
    erase[i] = true;
    ++selected;
  }
  if (selected == 0) return 0;
  for (ir::Node& node : added) graph.nodes.push_back(std::move(node));
  erase.resize(graph.nodes.size(), false);
  KILN_RETURN_IF_ERROR(graph.eraseNodes(erase));
  return selected;
}

}  // namespace kiln::passes

// Chains and trees of float elementwise ops become one FusedElementwise node (ops/fused_elementwise_program.h), so
// e.g. torch's GELU decomposition (Div, Erf, Add, Mul, Mul) reads and writes the tensor once instead of five times.
//
// A group grows backwards from its last node (the root, whose output leaves the group) through producers whose
// output is read only inside the group and is not a graph output. Every member is a float32/float16 op the program
// can express; scalar constants become immediates where dropping them from the broadcast keeps the shape. Values the
// host shape program computes are left alone. Broadcasting commutes with elementwise ops, so evaluating the program
// at each output index is the same as running the ops one by one.
#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "ops/fused_elementwise_program.h"
#include "passes/passes.h"
#include "passes/graph_patterns.h"
#include "runtime/shape_program.h"

namespace kiln::passes {
namespace {

using ir::OpKind;
using ops::FusedOpcode;

/// One operand of a member: a tensor value or an immediate.
struct Operand {
  ir::ValueId value = ir::kNoValue;  // kNoValue: immediate
  float immediate = 0.0f;
};

/// How one node becomes one instruction.
struct NodePlan {
  FusedOpcode op = FusedOpcode::kAdd;
  std::vector<Operand> operands;  // 1 or 2
  std::vector<float> parameters;  // LeakyRelu/Elu alpha, HardSigmoid alpha+beta, Clip min+max
};

bool isFloatType(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16; }

std::optional<FusedOpcode> unaryOpcode(const ir::Node& node) {
  switch (node.op) {
    case OpKind::kRelu: return FusedOpcode::kRelu;
    case OpKind::kSigmoid: return FusedOpcode::kSigmoid;
    case OpKind::kTanh: return FusedOpcode::kTanh;
    case OpKind::kErf: return FusedOpcode::kErf;
    case OpKind::kExp: return FusedOpcode::kExp;
    case OpKind::kLog: return FusedOpcode::kLog;
    case OpKind::kSqrt: return FusedOpcode::kSqrt;
    case OpKind::kReciprocal: return FusedOpcode::kReciprocal;
    case OpKind::kAbs: return FusedOpcode::kAbs;
    case OpKind::kNeg: return FusedOpcode::kNeg;
    case OpKind::kHardSwish: return FusedOpcode::kHardSwish;
    case OpKind::kSoftplus: return FusedOpcode::kSoftplus;
    case OpKind::kLeakyRelu: return FusedOpcode::kLeakyRelu;
    case OpKind::kElu: return FusedOpcode::kElu;
    case OpKind::kHardSigmoid: return FusedOpcode::kHardSigmoid;
    case OpKind::kGelu: {
      const auto& all = node.attrs.all();
      auto it = all.find("approximate");
      if (it == all.end()) return FusedOpcode::kGelu;
      const auto* s = std::get_if<std::string>(&it->second);
      if (s && *s == "none") return FusedOpcode::kGelu;
      if (s && *s == "tanh") return FusedOpcode::kGeluTanh;
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

std::optional<FusedOpcode> binaryOpcode(OpKind op) {
  switch (op) {
    case OpKind::kAdd: return FusedOpcode::kAdd;
    case OpKind::kSub: return FusedOpcode::kSub;
    case OpKind::kMul: return FusedOpcode::kMul;
    case OpKind::kDiv: return FusedOpcode::kDiv;
    case OpKind::kMax: return FusedOpcode::kMax;
    case OpKind::kMin: return FusedOpcode::kMin;
    case OpKind::kPow: return FusedOpcode::kPow;
    default: return std::nullopt;
  }
}

/// A float attribute, or the spec's default when absent; nullopt when present with another kind.
std::optional<float> floatAttr(const ir::Node& node, const char* name, float fallback) {
  const auto& all = node.attrs.all();
  auto it = all.find(name);
  if (it == all.end()) return fallback;
  if (const float* f = std::get_if<float>(&it->second)) return *f;
  return std::nullopt;
}

/// The instruction `node` becomes, or nullopt when it cannot join a group.
std::optional<NodePlan> planNode(const ir::Graph& graph, const ir::Node& node) {
  if (node.outputs.size() != 1 || node.outputs[0] == ir::kNoValue) return std::nullopt;
  const DataType t = graph.values[node.outputs[0]].dtype;
  if (!isFloatType(t)) return std::nullopt;
  for (ir::ValueId in : node.inputs)
    if (in != ir::kNoValue && (in < 0 || static_cast<size_t>(in) >= graph.values.size())) return std::nullopt;
  auto tensor = [&](ir::ValueId v) -> std::optional<Operand> {
    if (v == ir::kNoValue || graph.values[v].dtype != t) return std::nullopt;
    return Operand{v, 0.0f};
  };
  NodePlan plan;
  if (auto op = binaryOpcode(node.op)) {
    if (node.inputs.size() != 2) return std::nullopt;
    plan.op = *op;
    for (int side = 0; side < 2; ++side) {
      const ir::ValueId v = node.inputs[side], other = node.inputs[1 - side];
      // A one-element constant is an immediate when it does not raise the rank of the other operand's shape.
      const auto scalar = scalarConstant(graph, v);
      bool keepsShape = false;
      if (scalar && other != ir::kNoValue && !graph.isConstant(other)) {
        const size_t rank = graph.constantOf(v)->dims().size();
        keepsShape = rank == 0 || (graph.values[other].rankKnown && rank <= graph.values[other].dims.size());
      }
      if (scalar && keepsShape) {
        plan.operands.push_back(Operand{ir::kNoValue, *scalar});
      } else if (node.op == OpKind::kPow && side == 1) {
        return std::nullopt;  // only constant scalar exponents
      } else {
        auto operand = tensor(v);
        if (!operand) return std::nullopt;
        plan.operands.push_back(*operand);
      }
    }
    if (plan.operands[0].value == ir::kNoValue && plan.operands[1].value == ir::kNoValue) return std::nullopt;
    return plan;
  }
  if (node.op == OpKind::kClip) {
    if (node.inputs.empty() || node.inputs.size() > 3) return std::nullopt;
    auto x = tensor(node.inputs[0]);
    if (!x) return std::nullopt;
    plan.op = FusedOpcode::kClip;
    plan.operands.push_back(*x);
    const float inf = std::numeric_limits<float>::infinity();
    for (size_t i = 1; i < 3; ++i) {
      if (i >= node.inputs.size() || node.inputs[i] == ir::kNoValue) {
        plan.parameters.push_back(i == 1 ? -inf : inf);
        continue;
      }
      auto bound = scalarConstant(graph, node.inputs[i]);
      if (!bound || graph.constantOf(node.inputs[i])->dtype() != t) return std::nullopt;
      plan.parameters.push_back(*bound);
    }
    return plan;
  }
  auto op = unaryOpcode(node);
  if (!op || node.inputs.size() != 1) return std::nullopt;
  auto x = tensor(node.inputs[0]);
  if (!x) return std::nullopt;
  plan.op = *op;
  plan.operands.push_back(*x);
  std::optional<float> p0, p1;
  switch (*op) {
    case FusedOpcode::kLeakyRelu:
      if (!(p0 = floatAttr(node, "alpha", 0.01f))) return std::nullopt;
      plan.parameters = {*p0};
      break;
    case FusedOpcode::kElu:
      if (!(p0 = floatAttr(node, "alpha", 1.0f))) return std::nullopt;
      plan.parameters = {*p0};
      break;
    case FusedOpcode::kHardSigmoid:
      if (!(p0 = floatAttr(node, "alpha", 0.2f)) || !(p1 = floatAttr(node, "beta", 0.5f))) return std::nullopt;
      plan.parameters = {*p0, *p1};
      break;
    default: break;
  }
  return plan;
}

/// A group under construction: member node indices, kept sorted (topological order).
struct Group {
  std::vector<int32_t> members;
  bool contains(int32_t n) const { return std::binary_search(members.begin(), members.end(), n); }
  void add(int32_t n) { members.insert(std::upper_bound(members.begin(), members.end(), n), n); }
  void remove(int32_t n) { members.erase(std::find(members.begin(), members.end(), n)); }
};

/// The group's tensor inputs (values read by members but produced outside), in order of first use.
std::vector<ir::ValueId> externalInputs(const ir::Graph& graph, const Group& g,
                                        const std::vector<std::optional<NodePlan>>& plans) {
  std::vector<ir::ValueId> inputs;
  for (int32_t m : g.members)
    for (const Operand& o : plans[m]->operands) {
      if (o.value == ir::kNoValue) continue;
      const int32_t producer = graph.values[o.value].producer;
      if (producer >= 0 && g.contains(producer)) continue;
      if (std::find(inputs.begin(), inputs.end(), o.value) == inputs.end()) inputs.push_back(o.value);
    }
  return inputs;
}

size_t immediateCount(const Group& g, const std::vector<std::optional<NodePlan>>& plans) {
  size_t n = 0;
  for (int32_t m : g.members) {
    n += plans[m]->parameters.size();
    for (const Operand& o : plans[m]->operands) n += o.value == ir::kNoValue ? 1 : 0;
  }
  return n;
}

bool withinLimits(const ir::Graph& graph, const Group& g, const std::vector<std::optional<NodePlan>>& plans) {
  return g.members.size() <= static_cast<size_t>(ops::kMaxFusedInstructions) &&
         externalInputs(graph, g, plans).size() <= static_cast<size_t>(ops::kMaxFusedInputs) &&
         immediateCount(g, plans) <= static_cast<size_t>(ops::kMaxFusedImmediates);
}

/// The FusedElementwise node replacing `g` (whose last member is its root).
ir::Node buildFusedNode(const ir::Graph& graph, const Group& g, const std::vector<std::optional<NodePlan>>& plans) {
  ops::FusedProgram program;
  const std::vector<ir::ValueId> inputs = externalInputs(graph, g, plans);
  program.inputCount = static_cast<int32_t>(inputs.size());
  std::map<ir::ValueId, int32_t> registerOf;
  for (size_t i = 0; i < inputs.size(); ++i) registerOf[inputs[i]] = static_cast<int32_t>(i);
  auto immediate = [&](float v) {
    program.immediates.push_back(v);
    return -static_cast<int32_t>(program.immediates.size());  // -1 - index
  };
  std::vector<std::string> names;
  for (int32_t m : g.members) {
    const NodePlan& plan = *plans[m];
    int32_t operands[2] = {0, 0};
    for (size_t k = 0; k < plan.operands.size(); ++k) {
      const Operand& o = plan.operands[k];
      operands[k] = o.value == ir::kNoValue ? immediate(o.immediate) : registerOf.at(o.value);
    }
    if (!plan.parameters.empty()) {
      operands[1] = immediate(plan.parameters[0]);
      for (size_t k = 1; k < plan.parameters.size(); ++k) immediate(plan.parameters[k]);
    }
    registerOf[graph.nodes[m].outputs[0]] = program.registerCount();
    program.code.push_back({plan.op, operands[0], operands[1]});
    names.push_back(graph.nodes[m].name);
  }
  const ir::Node& root = graph.nodes[g.members.back()];
  ir::Node fused;
  fused.name = root.name;
  fused.op = OpKind::kFusedElementwise;
  fused.inputs = inputs;
  fused.outputs = root.outputs;
  ops::encodeFusedProgram(program, fused.attrs);
  fused.attrs.set("fused_nodes", names);
  return fused;
}

}  // namespace

Expected<int> fuseElementwiseChains(ir::Graph& graph) {
  KILN_RETURN_IF_ERROR(graph.topologicalSort());
  const runtime::ShapeProgram hostProgram = runtime::analyzeShapeProgram(graph);
  const size_t nodeCount = graph.nodes.size();
  std::vector<std::optional<NodePlan>> plans(nodeCount);
  for (size_t i = 0; i < nodeCount; ++i)
    if (!hostProgram.hostNode[i]) plans[i] = planNode(graph, graph.nodes[i]);

  std::vector<std::vector<int32_t>> readers(graph.values.size());
  for (size_t i = 0; i < nodeCount; ++i)
    for (ir::ValueId v : graph.nodes[i].inputs)
      if (v != ir::kNoValue) readers[v].push_back(static_cast<int32_t>(i));

  std::vector<bool> taken(nodeCount, false);
  std::vector<Group> groups;
  for (size_t r = nodeCount; r-- > 0;) {
    const auto root = static_cast<int32_t>(r);
    if (!plans[root] || taken[root]) continue;
    Group g;
    g.add(root);
    for (bool grew = true; grew;) {
      grew = false;
      const std::vector<int32_t> members = g.members;
      for (int32_t m : members)
        for (const Operand& o : plans[m]->operands) {
          if (o.value == ir::kNoValue || graph.isGraphOutput(o.value)) continue;
          const int32_t p = graph.values[o.value].producer;
          if (p < 0 || !plans[p] || taken[p] || g.contains(p)) continue;
          const auto& rs = readers[o.value];
          if (!std::all_of(rs.begin(), rs.end(), [&](int32_t n) { return g.contains(n); })) continue;
          g.add(p);
          if (!withinLimits(graph, g, plans)) {
            g.remove(p);  // stays outside; it can root a group of its own
            continue;
          }
          grew = true;
        }
    }
    if (g.members.size() < 2 || g.members.back() != root) continue;
    for (int32_t m : g.members) taken[m] = true;
    groups.push_back(std::move(g));
  }
  if (groups.empty()) return 0;

  std::vector<bool> erase(nodeCount, false);
  std::vector<std::pair<int32_t, ir::Node>> replacements;
  for (const Group& g : groups) {
    replacements.emplace_back(g.members.back(), buildFusedNode(graph, g, plans));
    for (int32_t m : g.members) erase[m] = m != g.members.back();
  }
  for (auto& [index, node] : replacements) graph.nodes[index] = std::move(node);
  KILN_RETURN_IF_ERROR(graph.eraseNodes(erase));
  return static_cast<int>(groups.size());
}

}  // namespace kiln::passes

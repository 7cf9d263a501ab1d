#include "ir/verifier.h"

#include <set>
#include <sstream>

namespace kiln::ir {

Status verifyGraph(Graph& graph) {
  std::vector<std::string> problems;
  const auto count = static_cast<ValueId>(graph.values.size());
  auto inRange = [&](ValueId v) { return v >= 0 && v < count; };
  std::set<ValueId> defined;
  for (ValueId v : graph.inputs) {
    if (!inRange(v)) problems.push_back("a graph input refers to a missing value");
    else if (graph.isConstant(v)) problems.push_back("graph input '" + graph.values[v].name + "' is also a constant");
    else defined.insert(v);
  }
  for (auto& [v, t] : graph.constants) defined.insert(v);
  for (const Node& n : graph.nodes) {
    for (ValueId v : n.inputs)
      if (v != kNoValue && !inRange(v)) problems.push_back(graph.describe(n) + ": input refers to a missing value");
    for (ValueId v : n.outputs) {
      if (!inRange(v)) {
        problems.push_back(graph.describe(n) + ": output refers to a missing value");
      } else if (defined.count(v)) {
        problems.push_back(graph.describe(n) + ": output '" + graph.values[v].name +
                           "' is already defined (graph input, constant or another node)");
      } else {
        defined.insert(v);
      }
    }
  }
  if (problems.empty()) {
    for (const Node& n : graph.nodes)
      for (ValueId v : n.inputs)
        if (v != kNoValue && !defined.count(v))
          problems.push_back(graph.describe(n) + ": input '" + graph.values[v].name +
                             "' is not produced by any node, input or initializer");
  }
  for (ValueId v : graph.outputs) {
    if (!inRange(v)) problems.push_back("a graph output refers to a missing value");
    else if (!defined.count(v)) problems.push_back("graph output '" + graph.values[v].name + "' is never produced");
  }
  if (graph.outputs.empty()) problems.push_back("the graph has no outputs");
  if (!problems.empty()) {
    std::string msg = "the graph is invalid (" + std::to_string(problems.size()) + " problem(s)):";
    for (auto& p : problems) msg += "\n  " + p;
    return invalidModel(msg);
  }
  return graph.topologicalSort();
}

namespace {
std::string valueText(const Graph& g, ValueId v) {
  if (v == kNoValue) return "<none>";
  const Value& val = g.values[v];
  std::string s = val.name + "[" + dataTypeName(val.dtype);
  if (val.rankKnown) {
    s += " ";
    for (size_t i = 0; i < val.dims.size(); ++i) {
      if (i) s += "x";
      if (val.dims[i] == kDynamicDim)
        s += (i < val.dimNames.size() && !val.dimNames[i].empty()) ? val.dimNames[i] : "?";
      else
        s += std::to_string(val.dims[i]);
    }
  }
  return s + "]";
}

std::string attrText(const AttributeValue& a) {
  std::ostringstream os;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float>) os << x;
        else if constexpr (std::is_same_v<T, std::string>) os << '"' << x << '"';
        else if constexpr (std::is_same_v<T, Tensor>) os << "tensor<" << dataTypeName(x.dtype()) << " " << dimsToString(x.dims()) << ">";
        else {
          os << "[";
          for (size_t i = 0; i < x.size(); ++i) os << (i ? "," : "") << x[i];
          os << "]";
        }
      },
      a);
  return os.str();
}
}  // namespace

std::string printGraph(const Graph& g) {
  std::ostringstream os;
  os << "graph (opset " << g.opsetVersion << ", " << g.nodes.size() << " nodes, " << g.constants.size()
     << " constants)\n";
  for (ValueId v : g.inputs) os << "  input  " << valueText(g, v) << "\n";
  for (const Node& n : g.nodes) {
    os << "  " << n.name << " = " << opKindName(n.op) << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (i) os << ", ";
      os << (n.inputs[i] != kNoValue && g.isConstant(n.inputs[i]) ? "const " : "") << valueText(g, n.inputs[i]);
    }
    os << ")";
    if (!n.attrs.all().empty()) {
      os << " {";
      bool first = true;
      for (auto& [k, a] : n.attrs.all()) {
        os << (first ? "" : ", ") << k << "=" << attrText(a);
        first = false;
      }
      os << "}";
    }
    os << " -> ";
    for (size_t i = 0; i < n.outputs.size(); ++i) os << (i ? ", " : "") << valueText(g, n.outputs[i]);
    os << "\n";
  }
  for (ValueId v : g.outputs) os << "  output " << valueText(g, v) << "\n";
  return os.str();
}

}  // namespace kiln::ir

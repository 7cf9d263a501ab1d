// Per-layer precision (DESIGN.md rule 6): the float32 graph becomes a mixed one in which chosen nodes compute in
// float16 or bfloat16, with Casts wherever a value crosses between the two and constants converted per consumer.
#include "core/half.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

using ir::OpKind;

Expected<Tensor> convertConstant(const Tensor& t, DataType to) {
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(to, t.dims()));
  const float* src = t.dataAs<float>();
  auto* dst = out.dataAs<uint16_t>();
  for (int64_t i = 0; i < t.elementCount(); ++i)
    dst[i] = to == DataType::kFloat16 ? floatToHalfBits(src[i]) : floatToBfloat16Bits(src[i]);
  return out;
}

std::string typeSuffix(DataType t) { return t == DataType::kFloat16 ? "fp16" : t == DataType::kBFloat16 ? "bf16" : "fp32"; }

}  // namespace

bool isFloatDataSlot(const ir::Graph& graph, const ir::Node& node, size_t slot) {
  const ir::ValueId v = node.inputs[slot];
  if (v == ir::kNoValue || graph.values[v].dtype != DataType::kFloat32) return false;
  // Shape and Size read only the dims, of any type: a Cast for them would be a kernel for nothing.
  if (node.op == OpKind::kShape || node.op == OpKind::kSize) return false;
  // Resize's roi and scales are parameters read on the host, whatever the data's type.
  return !(node.op == OpKind::kResize && (slot == 1 || slot == 2));
}

Expected<MixedGraph> applyPrecision(const ir::Graph& base, DataType low, const std::vector<bool>& lowNode) {
  if (low != DataType::kFloat16 && low != DataType::kBFloat16)
    return internalError("applyPrecision: the narrow type must be float16 or bfloat16");
  if (lowNode.size() != base.nodes.size()) return internalError("applyPrecision: one flag per node expected");
  ir::Graph g = base;  // constants share storage: no weight is copied

  // Each float32 value that a narrow node produces takes the narrow type under its own id.
  std::vector<DataType> home(base.values.size(), DataType::kUndefined);
  for (size_t v = 0; v < base.values.size(); ++v) home[v] = base.values[v].dtype;
  for (size_t i = 0; i < base.nodes.size(); ++i) {
    if (!lowNode[i]) continue;
    ir::Node& n = g.nodes[i];
    for (ir::ValueId out : n.outputs)
      if (base.values[out].dtype == DataType::kFloat32) {
        home[out] = low;
        g.values[out].dtype = low;
      }
    // Nodes whose float32 output type is an attribute follow the node's precision.
    if (n.op == OpKind::kCast && n.attrs.getInt("to", 0) == static_cast<int64_t>(DataType::kFloat32))
      n.attrs.set("to", static_cast<int64_t>(low));
  }

  // The value of `v` in type `t`: itself, a converted copy of a constant, or the output of one Cast per (v, t).
  std::map<std::pair<ir::ValueId, DataType>, ir::ValueId> variant;
  std::vector<ir::Node> casts;
  const auto castNode = [&](ir::ValueId from, ir::ValueId to, DataType t) {
    ir::Node cast;
    cast.name = g.values[from].name + "_to_" + typeSuffix(t);
    cast.op = OpKind::kCast;
    cast.inputs = {from};
    cast.outputs = {to};
    cast.attrs.set("to", static_cast<int64_t>(t));
    return cast;
  };
  const auto valueIn = [&](ir::ValueId v, DataType t) -> Expected<ir::ValueId> {
    if (home[v] == t) return v;
    if (auto it = variant.find({v, t}); it != variant.end()) return it->second;
    ir::ValueId made;
    if (const Tensor* c = base.constantOf(v)) {
      KILN_ASSIGN_OR_RETURN(Tensor converted, convertConstant(*c, t));
      made = g.addConstant(base.values[v].name + "_" + typeSuffix(t), std::move(converted));
    } else {
      made = g.addValue(base.values[v].name + "_" + typeSuffix(t), t);
      g.values[made].rankKnown = base.values[v].rankKnown;
      g.values[made].dims = base.values[v].dims;
      casts.push_back(castNode(v, made, t));
    }
    variant[{v, t}] = made;
    return made;
  };

  // Graph outputs stay float32: a narrow producer writes a narrow twin, and a Cast right after it writes the output.
  std::map<ir::ValueId, ir::Node> outputCasts;  // by twin
  for (ir::ValueId out : base.outputs) {
    if (home[out] != low) continue;
    const ir::ValueId twin = g.addValue(base.values[out].name + "_" + typeSuffix(low), low);
    g.values[twin].rankKnown = base.values[out].rankKnown;
    g.values[twin].dims = base.values[out].dims;
    for (ir::ValueId& o : g.nodes[static_cast<size_t>(base.values[out].producer)].outputs)
      if (o == out) o = twin;
    g.values[out].dtype = DataType::kFloat32;
    outputCasts.emplace(twin, castNode(twin, out, DataType::kFloat32));
    variant[{out, low}] = twin;
    home[out] = DataType::kFloat32;
  }

  // Emitted in the base's (topological) order, each node after the Casts it reads.
  std::vector<ir::Node> ordered;
  MixedGraph result;
  result.nodeOf.resize(base.nodes.size());
  for (size_t i = 0; i < base.nodes.size(); ++i) {
    const ir::Node& original = base.nodes[i];
    for (size_t s = 0; s < original.inputs.size(); ++s) {
      if (!isFloatDataSlot(base, original, s)) continue;
      KILN_ASSIGN_OR_RETURN(g.nodes[i].inputs[s], valueIn(original.inputs[s], lowNode[i] ? low : DataType::kFloat32));
    }
    for (ir::Node& cast : casts) ordered.push_back(std::move(cast));
    casts.clear();
    result.nodeOf[i] = ordered.size();
    ordered.push_back(std::move(g.nodes[i]));
    for (ir::ValueId out : ordered.back().outputs)
      if (auto it = outputCasts.find(out); it != outputCasts.end()) ordered.push_back(std::move(it->second));
  }
  g.nodes = std::move(ordered);
  for (ir::Value& v : g.values) v.producer = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (ir::ValueId out : g.nodes[i].outputs) g.values[out].producer = static_cast<int32_t>(i);
  // Constants that no node reads any more (every reader took a converted copy).
  std::vector<bool> read(g.values.size(), false);
  for (const ir::Node& n : g.nodes)
    for (ir::ValueId v : n.inputs)
      if (v != ir::kNoValue) read[v] = true;
  for (ir::ValueId v : g.outputs) read[v] = true;
  for (auto it = g.constants.begin(); it != g.constants.end();) it = read[it->first] ? std::next(it) : g.constants.erase(it);
  result.graph = std::move(g);
  return result;
}

}  // namespace kiln::passes

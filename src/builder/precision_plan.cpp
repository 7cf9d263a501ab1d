#include "builder/precision_plan.h"

#include "builder/shape_annotation.h"
#include "ops/shape_inference.h"
#include "passes/passes.h"
#include "runtime/shape_program.h"

namespace kiln::builder {
namespace {

/// The pin that applies to `node` (the last matching entry), if any.
const LayerPrecision* pinFor(const ir::Node& node, const BuilderConfig& config) {
  const LayerPrecision* pin = nullptr;
  for (const LayerPrecision& p : config.layerPrecisions) {
    bool hit = wildcardMatch(p.pattern, node.name);
    for (const std::string& fused : node.attrs.getStrings("fused_nodes")) hit = hit || wildcardMatch(p.pattern, fused);
    if (hit) pin = &p;
  }
  return pin;
}

bool hasFloatData(const ir::Graph& graph, const ir::Node& node) {
  for (size_t s = 0; s < node.inputs.size(); ++s)
    if (passes::isFloatDataSlot(graph, node, s)) return true;
  for (ir::ValueId out : node.outputs)
    if (graph.values[out].dtype == DataType::kFloat32) return true;
  return false;
}

/// Ok when shape inference and the backend accept `node` with its float32 data in `low`.
Status checkNarrow(ir::Graph& graph, const runtime::ResolvedShapes& shapes, const ir::Node& original,
                   backends::Backend& backend, DataType low) {
  ir::Node node = original;
  if (node.op == ir::OpKind::kCast && node.attrs.getInt("to", 0) == static_cast<int64_t>(DataType::kFloat32))
    node.attrs.set("to", static_cast<int64_t>(low));
  std::vector<ops::TensorInfo> infos;
  std::vector<std::pair<ir::ValueId, DataType>> retyped;
  for (size_t s = 0; s < node.inputs.size(); ++s) {
    const ir::ValueId v = node.inputs[s];
    ops::TensorInfo info;
    if (v != ir::kNoValue) {
      const bool data = passes::isFloatDataSlot(graph, node, s);
      info.dtype = data ? low : shapes.dtypes[v];
      info.dims = shapes.dims[v];
      if (!data) {
        if (const Tensor* c = graph.constantOf(v)) info.value = c;
        else if (auto h = shapes.hostValues.find(v); h != shapes.hostValues.end()) info.value = &h->second;
      }
      if (data) retyped.emplace_back(v, graph.values[v].dtype);
    }
    infos.push_back(std::move(info));
  }
  KILN_ASSIGN_OR_RETURN(auto outInfos, ops::inferOutputs(graph, node, infos));
  for (size_t k = 0; k < node.outputs.size() && k < outInfos.size(); ++k) {
    const ir::ValueId out = node.outputs[k];
    if (graph.values[out].dtype != DataType::kFloat32) continue;
    if (outInfos[k].dtype != low)
      return unsupported(graph.describe(node) + ": output '" + graph.values[out].name + "' stays " +
                         dataTypeName(outInfos[k].dtype) + " when its inputs are " + dataTypeName(low));
    retyped.emplace_back(out, DataType::kFloat32);
  }
  // The backend reads dtypes from the graph: show it the node as the mixed graph will have it, then restore.
  for (auto& [v, old] : retyped) graph.values[v].dtype = low;
  Status s = backend.supports(graph, node);
  for (auto it = retyped.rbegin(); it != retyped.rend(); ++it) graph.values[it->first].dtype = it->second;
  return s;
}

}  // namespace

void PrecisionPlan::keepFloat32(size_t i, const std::string& reason) {
  narrow[i] = false;
  if (fp32Reason[i].empty()) fp32Reason[i] = reason;
}

size_t PrecisionPlan::narrowCount() const {
  size_t n = 0;
  for (bool b : narrow) n += b ? 1 : 0;
  return n;
}

bool wildcardMatch(const std::string& pattern, const std::string& text) {
  // Iterative glob: remember the last '*' and how much of the text it has taken.
  size_t p = 0, t = 0, star = std::string::npos, taken = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      taken = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++taken;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Expected<PrecisionPlan> planPrecision(ir::Graph& graph, const OptimizationProfile& profile, backends::Backend& backend,
                                      const BuilderConfig& config, DataType low) {
  const size_t n = graph.nodes.size();
  PrecisionPlan plan;
  plan.low = low;
  plan.narrow.assign(n, false);
  plan.floatLayer.assign(n, false);
  plan.pinnedNarrow.assign(n, false);
  plan.fp32Reason.assign(n, "");
  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
  std::map<ir::ValueId, Dims> optDims;
  for (const auto& range : profile.inputs) optDims[graph.findValue(range.name)] = range.opt;
  KILN_ASSIGN_OR_RETURN(auto shapes, runtime::resolveShapes(graph, program, optDims));
  const Precision lowPrecision = low == DataType::kFloat16 ? Precision::kFP16 : Precision::kBF16;
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = graph.nodes[i];
    if (program.hostNode[i] || !hasFloatData(graph, node)) continue;
    plan.floatLayer[i] = true;
    const LayerPrecision* pin = pinFor(node, config);
    if (pin && pin->precision == Precision::kFP32) {
      plan.keepFloat32(i, "pinned to FP32 by a layer precision");
      continue;
    }
    if (pin && pin->precision != lowPrecision && pin->precision != Precision::kFP32) {
      if (config.precisionConstraints == PrecisionConstraints::kObey)
        return invalidArgument(graph.describe(node) + " is pinned to a precision this build does not allow (" +
                               dataTypeName(low) + " is the narrow type here)");
      plan.keepFloat32(i, "pinned to a precision this build does not allow");
      continue;
    }
    Status narrow = checkNarrow(graph, shapes, node, backend, low);
    if (!narrow.isOk()) {
      if (pin && config.precisionConstraints == PrecisionConstraints::kObey)
        return narrow.withContext(std::string("layer pinned to ") + dataTypeName(low) + " under precision constraint obey");
      plan.keepFloat32(i, std::string("no ") + dataTypeName(low) + " kernel: " + narrow.message());
      continue;
    }
    plan.narrow[i] = true;
    plan.pinnedNarrow[i] = pin && config.precisionConstraints == PrecisionConstraints::kObey;
  }
  return plan;
}

Expected<passes::MixedGraph> makeMixedGraph(const ir::Graph& graph, PrecisionPlan& plan, backends::Backend& backend,
                                            const std::vector<OptimizationProfile>& profiles) {
  // Each pass over the mixed graph can only move nodes to FP32, so this ends; a few rounds at most in practice.
  for (size_t round = 0; round <= graph.nodes.size(); ++round) {
    KILN_ASSIGN_OR_RETURN(passes::MixedGraph mixed, passes::applyPrecision(graph, plan.low, plan.narrow));
    KILN_RETURN_IF_ERROR(annotateShapes(mixed.graph, profiles).withContext("the mixed-precision graph"));
    bool changed = false;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      if (!plan.narrow[i]) continue;
      Status s = backend.supports(mixed.graph, mixed.graph.nodes[mixed.nodeOf[i]]);
      if (s.isOk()) continue;
      if (plan.pinnedNarrow[i])
        return s.withContext(std::string("layer pinned to ") + dataTypeName(plan.low) + " under precision constraint obey");
      plan.keepFloat32(i, std::string("no ") + dataTypeName(plan.low) + " kernel: " + s.message());
      changed = true;
    }
    if (!changed) return mixed;
  }
  return internalError("mixed-precision graph: no stable assignment");
}

}  // namespace kiln::builder

#include "builder/shape_annotation.h"

#include "runtime/shape_program.h"

namespace kiln::builder {
namespace {

const char* kShapeKinds[] = {"min", "opt", "max"};

}  // namespace

Status annotateShapes(ir::Graph& graph, const std::vector<OptimizationProfile>& profiles) {
  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
  std::vector<bool> seen(graph.values.size(), false);
  for (size_t p = 0; p < profiles.size(); ++p) {
    for (int k = 0; k < 3; ++k) {
      std::map<ir::ValueId, Dims> inputDims;
      std::string shapes;
      for (const auto& range : profiles[p].inputs) {
        const Dims& d = k == 0 ? range.min : k == 1 ? range.opt : range.max;
        inputDims[graph.findValue(range.name)] = d;
        shapes += (shapes.empty() ? "" : ",") + range.name + ":" + dimsToString(d);
      }
      auto resolved = runtime::resolveShapes(graph, program, inputDims);
      if (!resolved)
        return resolved.status().withContext("profile " + std::to_string(p) + " " + kShapeKinds[k] + " shapes (" +
                                             shapes + ")");
      // Dims that depend on a data-dependent count (NonZero, NMS...) are dynamic: they change when every count is
      // one below its bound (ops/data_dependent.h).
      std::vector<Dims> probed;
      if (!resolved->counted.empty()) {
        std::map<size_t, int64_t> probe;
        for (const auto& c : resolved->counted) probe[c.node] = c.size.bound > 1 ? c.size.bound - 1 : 0;
        if (auto again = runtime::resolveShapes(graph, program, inputDims, probe)) probed = std::move(again->dims);
      }
      for (size_t v = 0; v < graph.values.size(); ++v) {
        if (graph.isConstant(static_cast<ir::ValueId>(v))) continue;
        const DataType t = resolved->dtypes[v];
        if (t == DataType::kUndefined) continue;  // not computed (an unused value)
        ir::Value& value = graph.values[v];
        Dims d = resolved->dims[v];
        if (!probed.empty() && probed[v].size() == d.size())
          for (size_t i = 0; i < d.size(); ++i)
            if (probed[v][i] != d[i]) d[i] = kDynamicDim;
        if (!seen[v]) {
          seen[v] = true;
          value.dtype = t;
          value.rankKnown = true;
          value.dims = d;
          continue;
        }
        if (!value.rankKnown) continue;
        if (value.dims.size() != d.size()) {
          value.rankKnown = false;
          value.dims.clear();
          continue;
        }
        for (size_t i = 0; i < d.size(); ++i)
          if (value.dims[i] != d[i]) value.dims[i] = kDynamicDim;
      }
    }
  }
  // Graph inputs keep their declared symbolic names; the profiles decide their ranges.
  return Status::ok();
}

}  // namespace kiln::builder

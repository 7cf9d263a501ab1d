#include "builder/shape_annotation.h"

#include <algorithm>

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
      // Dims that depend on a data-dependent count (NonZero, NMS...) are dynamic: they change when the counts move
      // off their bounds (ops/data_dependent.h). One below the bound is not enough: a dim that saturates, as
      // torchvision's k = min(count, 300) of a TopK over 3234 anchors does, only changes once the count drops under
      // the cap, so the counts are also probed at 1 and at 0.
      std::vector<std::vector<Dims>> probed;
      if (!resolved->counted.empty()) {
        enum class Probe { kBelowBound, kOne, kZero };
        for (const Probe kind : {Probe::kBelowBound, Probe::kOne, Probe::kZero}) {
          std::map<size_t, int64_t> probe;
          for (const auto& c : resolved->counted) {
            const int64_t bound = c.size.bound;
            probe[c.node] = kind == Probe::kBelowBound ? std::max<int64_t>(bound - 1, 0)
                            : kind == Probe::kOne      ? std::min<int64_t>(1, bound)
                                                       : 0;
          }
          if (auto again = runtime::resolveShapes(graph, program, inputDims, probe))
            probed.push_back(std::move(again->dims));
        }
      }
      for (size_t v = 0; v < graph.values.size(); ++v) {
        if (graph.isConstant(static_cast<ir::ValueId>(v))) continue;
        const DataType t = resolved->dtypes[v];
        if (t == DataType::kUndefined) continue;  // not computed (an unused value)
        ir::Value& value = graph.values[v];
        Dims d = resolved->dims[v];
        for (const std::vector<Dims>& dims : probed)
          if (dims[v].size() == d.size())
            for (size_t i = 0; i < d.size(); ++i)
              if (dims[v][i] != d[i]) d[i] = kDynamicDim;
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

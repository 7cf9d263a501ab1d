#include "builder/profile_validation.h"

#include <set>

namespace kiln::builder {
namespace {

bool hasDynamicDim(const ir::Value& v) {
  if (!v.rankKnown) return true;
  for (int64_t d : v.dims)
    if (d == kDynamicDim) return true;
  return false;
}

std::string dimLabel(const ir::Value& v, size_t i) {
  std::string s = "dimension " + std::to_string(i);
  if (i < v.dimNames.size() && !v.dimNames[i].empty()) s += " ('" + v.dimNames[i] + "')";
  return s;
}

}  // namespace

Expected<std::vector<OptimizationProfile>> validateProfiles(const ir::Graph& graph,
                                                            const std::vector<OptimizationProfile>& given) {
  std::vector<OptimizationProfile> profiles = given;
  if (profiles.empty()) {
    std::vector<std::string> dynamic;
    for (ir::ValueId in : graph.inputs)
      if (hasDynamicDim(graph.values[in])) dynamic.push_back("'" + graph.values[in].name + "'");
    if (!dynamic.empty()) {
      std::string names;
      for (auto& n : dynamic) names += (names.empty() ? "" : ", ") + n;
      return invalidArgument("input(s) " + names +
                             " have dynamic dimensions: give an optimization profile (min/opt/max shapes) for them");
    }
    profiles.emplace_back();
  }
  for (size_t p = 0; p < profiles.size(); ++p) {
    const std::string where = "profile " + std::to_string(p) + ": ";
    std::set<std::string> seen;
    for (const auto& range : profiles[p].inputs) {
      const ir::ValueId id = graph.findValue(range.name);
      bool isInput = false;
      for (ir::ValueId in : graph.inputs) isInput = isInput || in == id;
      if (!isInput) {
        std::string names;
        for (ir::ValueId in : graph.inputs) names += (names.empty() ? "'" : ", '") + graph.values[in].name + "'";
        return invalidArgument(where + "'" + range.name + "' is not an input of the model (inputs: " + names + ")");
      }
      if (!seen.insert(range.name).second) return invalidArgument(where + "input '" + range.name + "' is given twice");
      const ir::Value& v = graph.values[id];
      for (const auto* dims : {&range.min, &range.opt, &range.max})
        if (v.rankKnown && dims->size() != v.dims.size())
          return invalidArgument(where + "input '" + range.name + "' has rank " + std::to_string(v.dims.size()) +
                                 " but a shape of rank " + std::to_string(dims->size()) + " (" +
                                 dimsToString(*dims) + ") was given");
      if (range.min.size() != range.opt.size() || range.opt.size() != range.max.size())
        return invalidArgument(where + "input '" + range.name + "': min, opt and max shapes have different ranks");
      for (size_t i = 0; i < range.min.size(); ++i) {
        const std::string dim = "input '" + range.name + "' " + dimLabel(v, i);
        if (range.min[i] < 0)
          return invalidArgument(where + dim + ": min " + std::to_string(range.min[i]) + " is negative");
        if (!(range.min[i] <= range.opt[i] && range.opt[i] <= range.max[i]))
          return invalidArgument(where + dim + ": need min <= opt <= max, got " + std::to_string(range.min[i]) +
                                 ", " + std::to_string(range.opt[i]) + ", " + std::to_string(range.max[i]));
        if (v.rankKnown && v.dims[i] != kDynamicDim &&
            (range.min[i] != v.dims[i] || range.max[i] != v.dims[i]))
          return invalidArgument(where + dim + " is fixed at " + std::to_string(v.dims[i]) +
                                 " in the model, but the profile gives " + std::to_string(range.min[i]) + ".." +
                                 std::to_string(range.max[i]));
      }
    }
    for (ir::ValueId in : graph.inputs) {
      const ir::Value& v = graph.values[in];
      if (seen.count(v.name)) continue;
      if (hasDynamicDim(v))
        return invalidArgument(where + "input '" + v.name + "' has dynamic dimensions (" + dimsToString(v.dims) +
                               ") but no min/opt/max shapes");
      profiles[p].inputs.push_back({v.name, v.dims, v.dims, v.dims});
    }
  }
  return profiles;
}

}  // namespace kiln::builder

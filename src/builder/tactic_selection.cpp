#include <chrono>
#include <cstdio>

#include "builder/tactic_selection.h"
#include "runtime/shape_program.h"

namespace kiln::builder {

/// Times each device node's candidate kernels at the first profile's opt shapes (DESIGN.md rule 3); a timing cache
/// makes a rebuild skip what it has already timed.
Expected<std::vector<std::string>> chooseTactics(const ir::Graph& graph, const OptimizationProfile& profile,
                                                 backends::Backend& backend, const BuilderConfig& config,
                                                 TimingCache& cache) {
  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
  std::vector<std::string> tactics(graph.nodes.size());
  std::map<ir::ValueId, Dims> optDims;
  for (const auto& range : profile.inputs) optDims[graph.findValue(range.name)] = range.opt;
  KILN_ASSIGN_OR_RETURN(auto shapes, runtime::resolveShapes(graph, program, optDims));
  const std::string device = backend.deviceName();
  int timed = 0, cached = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  size_t deviceNodes = 0, visited = 0, nextReport = 1;
  for (size_t i = 0; i < graph.nodes.size(); ++i) deviceNodes += program.hostNode[i] ? 0 : 1;
  const bool showProgress = config.showProgress && !config.verbose && backend.kind() != DeviceKind::kCpu;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (program.hostNode[i] || config.builderOptimizationLevel <= 0) continue;
    // Progress in tenths of the device layers: timing them is most of a GPU build's time.
    if (showProgress && ++visited * 10 >= nextReport * deviceNodes) {
      std::fprintf(stderr, "[kiln] tuning layer %zu/%zu (%.1f s)\n", visited, deviceNodes, seconds());
      nextReport = visited * 10 / deviceNodes + 1;
    }
    const ir::Node& n = graph.nodes[i];
    std::vector<backends::DeviceTensor> in, out;
    for (ir::ValueId v : n.inputs) {
      if (v == ir::kNoValue) {
        in.emplace_back();
        continue;
      }
      // Known contents (weights, shape-program results) go with the shapes: tuning runs on the real weights.
      backends::DeviceTensor t{shapes.dtypes[v], shapes.dims[v]};
      if (const Tensor* c = graph.constantOf(v)) t.hostData = c->data();
      else if (auto h = shapes.hostValues.find(v); h != shapes.hostValues.end()) t.hostData = h->second.data();
      in.push_back(std::move(t));
    }
    for (ir::ValueId v : n.outputs) out.push_back({shapes.dtypes[v], shapes.dims[v]});
    const std::string key = TimingCache::keyFor(graph, n, in, out, device);
    if (auto hit = cache.find(key)) {
      tactics[i] = *hit;
      ++cached;
      continue;
    }
    KILN_ASSIGN_OR_RETURN(tactics[i], backend.chooseTactic(graph, n, in, out));
    if (tactics[i].empty()) continue;
    cache.put(key, tactics[i]);
    ++timed;
    if (config.verbose)
      std::fprintf(stderr, "[kiln] tuned %zu/%zu %s: %s\n", i + 1, graph.nodes.size(), graph.describe(n).c_str(),
                   tactics[i].c_str());
  }
  if (config.verbose || timed)
    std::fprintf(stderr, "[kiln] tactics: %d timed, %d from the timing cache (%.2f s)\n", timed, cached, seconds());
  return tactics;
}

}  // namespace kiln::builder

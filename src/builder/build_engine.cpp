#include <chrono>
#include <cstdio>

#include "backends/backend.h"
#include "builder/profile_validation.h"
#include "builder/timing_cache.h"
#include "engine/engine_file.h"
#include "ir/verifier.h"
#include "kiln/builder.h"
#include "passes/passes.h"
#include "runtime/shape_program.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {
namespace {

const char* kShapeKinds[] = {"min", "opt", "max"};

/// Resolves every tensor's shape at each profile's min/opt/max and records, per value, the dims that are the same in
/// all of them (the others become kDynamicDim). Any shape error names the profile and which of its shapes failed.
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
      for (size_t v = 0; v < graph.values.size(); ++v) {
        if (graph.isConstant(static_cast<ir::ValueId>(v))) continue;
        const DataType t = resolved->dtypes[v];
        if (t == DataType::kUndefined) continue;  // not computed (an unused value)
        ir::Value& value = graph.values[v];
        const Dims& d = resolved->dims[v];
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

/// Times each device node's candidate kernels at the first profile's opt shapes (DESIGN.md rule 3); a timing cache
/// makes a rebuild skip what it has already timed.
Expected<std::vector<std::string>> chooseTactics(const ir::Graph& graph, const runtime::ShapeProgram& program,
                                                 const OptimizationProfile& profile, backends::Backend& backend,
                                                 const BuilderConfig& config) {
  std::vector<std::string> tactics(graph.nodes.size());
  std::map<ir::ValueId, Dims> optDims;
  for (const auto& range : profile.inputs) optDims[graph.findValue(range.name)] = range.opt;
  KILN_ASSIGN_OR_RETURN(auto shapes, runtime::resolveShapes(graph, program, optDims));
  builder::TimingCache cache;
  if (!config.timingCachePath.empty()) {
    KILN_ASSIGN_OR_RETURN(cache, builder::TimingCache::load(config.timingCachePath));
    if (cache.skippedLines())
      std::fprintf(stderr, "[kiln] timing cache '%s': skipped %d malformed line(s)\n", config.timingCachePath.c_str(),
                   cache.skippedLines());
  }
  const std::string device = backend.deviceName();
  int timed = 0, cached = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  size_t deviceNodes = 0, visited = 0, nextReport = 1;
  for (size_t i = 0; i < graph.nodes.size(); ++i) deviceNodes += program.hostNode[i] ? 0 : 1;
  const bool showProgress = config.showProgress && !config.verbose && backend.kind() != DeviceKind::kCpu;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (program.hostNode[i]) continue;
    // Progress in tenths of the device layers: timing them is most of a GPU build's time.
    if (showProgress && ++visited * 10 >= nextReport * deviceNodes) {
      std::fprintf(stderr, "[kiln] tuning layer %zu/%zu (%.1f s)\n", visited, deviceNodes, seconds());
      nextReport = visited * 10 / deviceNodes + 1;
    }
    const ir::Node& n = graph.nodes[i];
    std::vector<backends::DeviceTensor> in, out;
    for (ir::ValueId v : n.inputs)
      in.push_back(v == ir::kNoValue ? backends::DeviceTensor{} : backends::DeviceTensor{shapes.dtypes[v], shapes.dims[v]});
    for (ir::ValueId v : n.outputs) out.push_back({shapes.dtypes[v], shapes.dims[v]});
    const std::string key = builder::TimingCache::keyFor(graph, n, in, out, device);
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
  if (!config.timingCachePath.empty()) KILN_RETURN_IF_ERROR(cache.save(config.timingCachePath));
  return tactics;
}

std::string precisionList(const BuilderConfig& config) {
  std::string s = "fp32";
  if (config.allows(Precision::kTF32)) s += ",tf32";
  if (config.allows(Precision::kFP16)) s += ",fp16";
  if (config.allows(Precision::kBF16)) s += ",bf16";
  if (config.allows(Precision::kINT8)) s += ",int8";
  return s;
}

}  // namespace

Expected<std::vector<std::byte>> buildEngine(Network& network, const BuilderConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  ir::Graph& graph = network.graph();
  KILN_RETURN_IF_ERROR(ir::verifyGraph(graph));
  KILN_ASSIGN_OR_RETURN(auto profiles, builder::validateProfiles(graph, config.profiles));
  if (config.allows(Precision::kINT8) || config.allows(Precision::kFP8))
    return unsupported("INT8 and FP8 builds are not implemented yet; build with FP32 or FP16");
  if (config.allows(Precision::kFP16) && config.device != DeviceKind::kCuda)
    return unsupported("FP16 engines need the CUDA backend (--device=cuda); the CPU backend computes in FP32");

  KILN_ASSIGN_OR_RETURN(auto backend,
                        backends::createBackend(config.device, {.allowTF32 = config.allows(Precision::kTF32)}));

  // Passes, then shapes; folding Shape of now-static dims can enable more passes, so go round twice.
  for (int round = 0; round < 2; ++round) {
    KILN_RETURN_IF_ERROR(passes::runGraphPasses(graph, config.verbose));
    KILN_RETURN_IF_ERROR(annotateShapes(graph, profiles));
  }
  if (config.device == DeviceKind::kCuda) {
    KILN_ASSIGN_OR_RETURN(int fused, passes::fuseConvEpilogues(graph));
    if (config.verbose) std::fprintf(stderr, "[kiln] fused %d conv epilogues (bias, residual add, relu)\n", fused);
    KILN_ASSIGN_OR_RETURN(int gemms, passes::fuseGemmEpilogues(graph));
    if (config.verbose) std::fprintf(stderr, "[kiln] fused %d Gemm/MatMul epilogues (bias, relu, gelu)\n", gemms);
    KILN_RETURN_IF_ERROR(annotateShapes(graph, profiles));
  }
  if (config.allows(Precision::kFP16)) {
    KILN_RETURN_IF_ERROR(passes::convertToHalfPrecision(graph));
    KILN_RETURN_IF_ERROR(annotateShapes(graph, profiles));
  }
  // Channels-last wherever tensor cores run the convs (FP16, or TF32 for float32); strict FP32 stays NCHW, where
  // cuDNN's non-tensor-core kernels are at home.
  const bool tensorCores = config.allows(Precision::kFP16) || config.allows(Precision::kTF32);
  if (config.device == DeviceKind::kCuda && tensorCores && !config.keepNchw) {
    KILN_ASSIGN_OR_RETURN(int nhwc, passes::convertToNhwc(graph));
    if (config.verbose) std::fprintf(stderr, "[kiln] %d nodes run channels-last (NHWC)\n", nhwc);
    KILN_RETURN_IF_ERROR(annotateShapes(graph, profiles));
    // Epilogues only cuDNN's graph API fuses (other activations, a residual alone) apply to NHWC convs.
    KILN_ASSIGN_OR_RETURN(int more, passes::fuseConvEpilogues(graph, /*graphApiForms=*/true));
    if (config.verbose) std::fprintf(stderr, "[kiln] fused %d more conv epilogues (cuDNN graph API forms)\n", more);
    if (more) KILN_RETURN_IF_ERROR(annotateShapes(graph, profiles));
  }
  // Chains of elementwise ops become one kernel; last, because the passes above do not know FusedElementwise.
  KILN_ASSIGN_OR_RETURN(int chains, passes::fuseElementwiseChains(graph));
  if (config.verbose) std::fprintf(stderr, "[kiln] fused %d elementwise chains\n", chains);
  if (chains) KILN_RETURN_IF_ERROR(annotateShapes(graph, profiles));
  graph.compact();

  // Every node that runs on the device must be supported there; report all that are not, at once.
  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(graph);
  std::string problems;
  int problemCount = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (program.hostNode[i]) continue;
    Status s = backend->supports(graph, graph.nodes[i]);
    if (!s.isOk()) {
      problems += "\n  " + s.message();
      ++problemCount;
    }
  }
  if (problemCount)
    return unsupported(std::to_string(problemCount) + " node(s) cannot run on the " + deviceKindName(config.device) +
                       " backend:" + problems);

  KILN_ASSIGN_OR_RETURN(auto tactics, chooseTactics(graph, program, profiles[0], *backend, config));

  engine::EngineModel model;
  model.graph = graph;
  model.profiles = profiles;
  model.device = config.device;
  model.tactics = std::move(tactics);
  model.metadata = backend->buildFacts();
  model.metadata["kiln.version"] = KILN_VERSION;
  model.metadata["build.device"] = deviceKindName(config.device);
  model.metadata["build.precisions"] = precisionList(config);
  KILN_ASSIGN_OR_RETURN(auto bytes, engine::writeEngine(model));
  if (config.verbose) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "[kiln] built %zu nodes for %s in %.2f s, engine %zu bytes\n", graph.nodes.size(),
                 backend->deviceName().c_str(), seconds, bytes.size());
  }
  return bytes;
}

}  // namespace kiln

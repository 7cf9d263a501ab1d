#include <chrono>
#include <cstdio>

#include "backends/backend.h"
#include "builder/accuracy_guard.h"
#include "builder/calibration.h"
#include "builder/precision_plan.h"
#include "builder/profile_validation.h"
#include "builder/run_agreement.h"
#include "builder/shape_annotation.h"
#include "builder/tactic_selection.h"
#include "builder/timing_cache.h"
#include "engine/engine_file.h"
#include "ir/verifier.h"
#include "kiln/builder.h"
#include "passes/inline_control_flow.h"
#include "passes/passes.h"
#include "runtime/shape_program.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {
namespace {

/// Whether the engine's FP32 math may use TF32. Mixed-precision engines run their FP32 layers without it: a layer is
/// kept in FP32 because the narrow type breaks it, and TF32 rounds inputs to the same 10-bit mantissa as FP16.
bool engineUsesTF32(const BuilderConfig& config) {
  const bool narrow = config.allows(Precision::kFP16) || config.allows(Precision::kBF16);
  return config.allows(Precision::kTF32) && !(narrow && config.device == DeviceKind::kCuda);
}

/// What the engine may use, as recorded in it (the runtime makes its kernels accordingly).
std::string precisionList(const BuilderConfig& config) {
  std::string s = "fp32";
  if (engineUsesTF32(config)) s += ",tf32";
  if (config.allows(Precision::kFP16)) s += ",fp16";
  if (config.allows(Precision::kBF16)) s += ",bf16";
  if (config.allows(Precision::kINT8)) s += ",int8";
  return s;
}

/// The narrow type of this build: FP16 where allowed (more mantissa than BF16), else BF16, else none.
DataType narrowType(const BuilderConfig& config) {
  if (config.allows(Precision::kFP16)) return DataType::kFloat16;
  if (config.allows(Precision::kBF16)) return DataType::kBFloat16;
  return DataType::kUndefined;
}

/// Per-layer precision with the accuracy guard: returns the mixed graph and its tactics; `plan` says which layers
/// stay FP32 and why.
Status assignPrecisions(ir::Graph& graph, const std::vector<OptimizationProfile>& profiles, backends::Backend& backend,
                        const BuilderConfig& config, builder::TimingCache& cache, builder::PrecisionPlan& plan,
                        ir::Graph& mixedOut, std::vector<std::string>& tacticsOut) {
  constexpr int kMaxGuardRounds = 8;
  std::unique_ptr<builder::AccuracyGuard> guard;
  if (config.accuracyGuard) {
    auto facts = backend.buildFacts();
    facts["build.precisions"] = precisionList(config);
    KILN_ASSIGN_OR_RETURN(guard, builder::AccuracyGuard::create(graph, profiles, config.device, config, facts));
    guard->keepOutOfRange(plan);
  }
  for (int round = 0;; ++round) {
    KILN_ASSIGN_OR_RETURN(passes::MixedGraph mixed, builder::makeMixedGraph(graph, plan, backend, profiles));
    KILN_ASSIGN_OR_RETURN(auto tactics, builder::chooseTactics(mixed.graph, profiles[0], backend, config, cache));
    bool done = !guard;
    if (guard) {
      const size_t before = plan.narrowCount();
      KILN_ASSIGN_OR_RETURN(done, guard->checkAndPromote(mixed, tactics, plan));
      if (config.verbose || config.showProgress)
        std::fprintf(stderr, "[kiln] accuracy guard round %d at %s: %s\n%s", round + 1, guard->shapesText().c_str(),
                     done ? "outputs agree" : "outputs disagree", guard->outputSummary().c_str());
      if (!done && plan.narrowCount() == before)
        return unsupported("accuracy guard: the engine's outputs disagree with the FP32 path and no layer is left to "
                           "keep in FP32 (layers pinned under precision constraint obey stay narrow):\n" +
                           guard->outputSummary());
      if (!done && round + 1 >= kMaxGuardRounds)
        for (size_t i = 0; i < plan.narrow.size(); ++i)
          if (plan.narrow[i] && !plan.pinnedNarrow[i])
            plan.keepFloat32(i, "the outputs still disagreed after " + std::to_string(kMaxGuardRounds) +
                                    " guard rounds");
    }
    if (done) {
      mixedOut = std::move(mixed.graph);
      tacticsOut = std::move(tactics);
      return Status::ok();
    }
  }
}

/// "[kiln] kept in FP32: ..." for every float layer that is not narrow, and a count.
std::string describePlan(const ir::Graph& graph, const builder::PrecisionPlan& plan, std::string& metadataLines) {
  size_t layers = 0;
  std::string text;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!plan.floatLayer[i]) continue;
    ++layers;
    if (plan.narrow[i]) continue;
    const ir::Node& n = graph.nodes[i];
    text += "[kiln] kept in FP32: " + n.name + " (" + std::string(ir::opKindName(n.op)) + "): " + plan.fp32Reason[i] + "\n";
    metadataLines += n.name + "\t" + plan.fp32Reason[i] + "\n";
  }
  const char* type = plan.low == DataType::kFloat16 ? "FP16" : "BF16";
  return text + "[kiln] precision: " + std::to_string(plan.narrowCount()) + " of " + std::to_string(layers) +
         " float layers in " + type + ", " + std::to_string(layers - plan.narrowCount()) + " in FP32\n";
}

}  // namespace

Expected<std::vector<std::byte>> buildEngine(Network& network, const BuilderConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  ir::Graph& graph = network.graph();
  KILN_RETURN_IF_ERROR(ir::verifyGraph(graph));
  KILN_ASSIGN_OR_RETURN(auto profiles, builder::validateProfiles(graph, config.profiles));
  if (config.allows(Precision::kFP8))
    return unsupported("FP8 builds are not implemented yet; build with FP32, FP16, BF16 or INT8");
  DataType low = narrowType(config);
  if (low != DataType::kUndefined && config.device != DeviceKind::kCuda) {
    // Precision flags allow a type; they never make a build fail. The CPU backend computes in FP32.
    std::fprintf(stderr, "[kiln] the CPU backend computes in FP32: --fp16/--bf16 have no effect on this engine\n");
    low = DataType::kUndefined;
  }

  KILN_ASSIGN_OR_RETURN(auto backend,
                        backends::createBackend(config.device, {.allowTF32 = engineUsesTF32(config)}));

  // Passes, then shapes; folding Shape of now-static dims can enable more passes, so go round twice.
  for (int round = 0; round < 2; ++round) {
    KILN_RETURN_IF_ERROR(passes::runGraphPasses(
        graph, {.fuseAttention = backend->supportsKind(ir::OpKind::kFusedAttention).isOk(), .verbose = config.verbose}));
    KILN_RETURN_IF_ERROR(builder::annotateShapes(graph, profiles));
  }
  // An If still here decides on dims that vary within the profile (passes/inline_control_flow.cpp).
  KILN_RETURN_IF_ERROR(passes::checkControlFlowResolved(graph));
  // INT8 (builder/calibration.cpp): scales from calibration or its cache, then Q/DQ pairs in float at every
  // Conv/Gemm/MatMul, on the optimized FP32 graph (folded BatchNorms are in the weights) before any fusion.
  if (config.allows(Precision::kINT8)) {
    KILN_RETURN_IF_ERROR(builder::prepareInt8(graph, profiles, config, backend->buildFacts()));
    KILN_RETURN_IF_ERROR(builder::annotateShapes(graph, profiles));
  }
  if (config.device == DeviceKind::kCuda) {
    KILN_ASSIGN_OR_RETURN(int fused, passes::fuseConvEpilogues(graph));
    if (config.verbose) std::fprintf(stderr, "[kiln] fused %d conv epilogues (bias, residual add, relu)\n", fused);
    KILN_ASSIGN_OR_RETURN(int gemms, passes::fuseGemmEpilogues(graph));
    if (config.verbose) std::fprintf(stderr, "[kiln] fused %d Gemm/MatMul epilogues (bias, relu, gelu)\n", gemms);
    KILN_RETURN_IF_ERROR(builder::annotateShapes(graph, profiles));
  }
  // Channels-last wherever tensor cores run the convs (FP16/BF16, or TF32 for float32); strict FP32 stays NCHW,
  // where cuDNN's non-tensor-core kernels are at home.
  const bool tensorCores = low != DataType::kUndefined || config.allows(Precision::kTF32);
  if (config.device == DeviceKind::kCuda && tensorCores && !config.keepNchw) {
    KILN_ASSIGN_OR_RETURN(int nhwc, passes::convertToNhwc(graph));
    if (config.verbose) std::fprintf(stderr, "[kiln] %d nodes run channels-last (NHWC)\n", nhwc);
    KILN_RETURN_IF_ERROR(builder::annotateShapes(graph, profiles));
    // Epilogues only cuDNN's graph API fuses (other activations, a residual alone) apply to NHWC convs.
    KILN_ASSIGN_OR_RETURN(int more, passes::fuseConvEpilogues(graph, /*graphApiForms=*/true));
    if (config.verbose) std::fprintf(stderr, "[kiln] fused %d more conv epilogues (cuDNN graph API forms)\n", more);
    if (more) KILN_RETURN_IF_ERROR(builder::annotateShapes(graph, profiles));
  }
  // Chains of elementwise ops become one kernel; last of the fusions, because the passes above do not know
  // FusedElementwise.
  KILN_ASSIGN_OR_RETURN(int chains, passes::fuseElementwiseChains(graph));
  if (config.verbose) std::fprintf(stderr, "[kiln] fused %d elementwise chains\n", chains);
  if (chains) KILN_RETURN_IF_ERROR(builder::annotateShapes(graph, profiles));
  graph.compact();

  // Every node that runs on the device must be supported there in FP32; report all that are not, at once.
  {
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
  }

  builder::TimingCache cache;
  if (!config.timingCachePath.empty()) {
    KILN_ASSIGN_OR_RETURN(cache, builder::TimingCache::load(config.timingCachePath));
    if (cache.skippedLines())
      std::fprintf(stderr, "[kiln] timing cache '%s': skipped %d malformed line(s)\n", config.timingCachePath.c_str(),
                   cache.skippedLines());
  }
  // Tactics, per-layer precision and the engine file; run twice when the finished engine disagrees with itself.
  const auto makeEngine = [&](const BuilderConfig& cfg) -> Expected<std::vector<std::byte>> {
    engine::EngineModel model;
    model.metadata = backend->buildFacts();
    if (low == DataType::kUndefined) {
      KILN_ASSIGN_OR_RETURN(model.tactics, builder::chooseTactics(graph, profiles[0], *backend, cfg, cache));
      model.graph = graph;
    } else {
      // Mixed precision runs on the optimized float32 graph: each layer narrow where it is right, FP32 elsewhere.
      KILN_ASSIGN_OR_RETURN(builder::PrecisionPlan plan, builder::planPrecision(graph, profiles[0], *backend, cfg, low));
      KILN_RETURN_IF_ERROR(assignPrecisions(graph, profiles, *backend, cfg, cache, plan, model.graph, model.tactics));
      std::string fp32Layers;
      const std::string report = describePlan(graph, plan, fp32Layers);
      if (cfg.verbose || cfg.showProgress) std::fprintf(stderr, "%s", report.c_str());
      model.metadata["precision.fp32_layers"] = fp32Layers;
      model.metadata["precision.narrow_type"] = dataTypeName(low);
      model.graph.compact();
    }
    if (!cfg.timingCachePath.empty()) KILN_RETURN_IF_ERROR(cache.save(cfg.timingCachePath));

    model.profiles = profiles;
    model.device = cfg.device;
    model.metadata["kiln.version"] = KILN_VERSION;
    model.metadata["build.device"] = deviceKindName(cfg.device);
    model.metadata["build.precisions"] = precisionList(cfg);
    return engine::writeEngine(model);
  };
  KILN_ASSIGN_OR_RETURN(auto bytes, makeEngine(config));
  // A CUDA engine runs as users run it before it is returned (run_agreement.h): where its answer changes from run to
  // run, the racing layers get a stream fence; if fences do not settle it, a tuned engine is rebuilt with cuDNN's
  // heuristic choices (optimization level 0), else refused. runAgreementCheck false keeps the engine as it is, for
  // diagnosing one that fails (kiln run --findRace).
  if (config.device == DeviceKind::kCuda && config.runAgreementCheck) {
    KILN_ASSIGN_OR_RETURN(builder::RunAgreement agreed, builder::makeRunsAgree(std::move(bytes)));
    for (const std::string& layer : agreed.fencedLayers)
      std::fprintf(stderr, "[kiln] runs disagreed until a stream fence was put before %s\n", layer.c_str());
    if (agreed.disagreement.empty()) {
      bytes = std::move(agreed.engine);
    } else if (config.builderOptimizationLevel == 0) {
      return internalError("the built engine answers differently from run to run with heuristic tactics, every "
                           "layer fenced (" + agreed.disagreement + "): a kiln or library bug, please report");
    } else {
      std::fprintf(stderr, "[kiln] the tuned engine answers differently from run to run (%s), even with every layer "
                           "fenced: rebuilding with heuristic tactics (optimization level 0)\n",
                   agreed.disagreement.c_str());
      BuilderConfig heuristic = config;
      heuristic.builderOptimizationLevel = 0;
      KILN_ASSIGN_OR_RETURN(bytes, makeEngine(heuristic));
      KILN_ASSIGN_OR_RETURN(agreed, builder::makeRunsAgree(std::move(bytes)));
      if (!agreed.disagreement.empty())
        return internalError("the built engine answers differently from run to run with tuned and with heuristic "
                             "tactics, every layer fenced (" + agreed.disagreement + "): a kiln or library bug, "
                             "please report");
      bytes = std::move(agreed.engine);
    }
  }
  if (config.verbose) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "[kiln] built for %s in %.2f s, engine %zu bytes\n", backend->deviceName().c_str(), seconds,
                 bytes.size());
  }
  return bytes;
}

}  // namespace kiln

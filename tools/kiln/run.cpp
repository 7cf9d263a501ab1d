// kiln run: load an engine, run it once on given or random inputs, print (and save) the outputs, and optionally
// compare them with a CPU engine built from the ONNX model for exactly these shapes.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "cli_support.h"
#include "compare_outputs.h"
#include "core/npy.h"
#include "kiln/builder.h"

namespace kiln::cli {
namespace {

constexpr const char* kCompareHelp =
    "--compare and --compareOutputs judge each float output by max|out - ref| / max|ref| and by cosine "
    "similarity; integer outputs must match exactly. A reference that is all zero, constant or holds NaN/Inf is "
    "DEGENERATE: it proves nothing, and the run exits 1 as for a FAIL.";

class RunCommand : public Command {
 public:
  explicit RunCommand(CLI::App& root) {
    app_ = root.add_subcommand("run", "Run an engine once and print its outputs");
    app_->footer(std::string(kRandomInputsHelp) + "\n\n" + kCompareHelp);
    app_->add_option("engine", enginePath_, "engine file (.kiln)")->required();
    const auto join = CLI::MultiOptionPolicy::Join;
    app_->add_option("--shapes", shapesText_, "input shapes, e.g. input:7x3x256x144 (default: the profile's opt)")
        ->multi_option_policy(join);
    app_->add_option("--loadInputs", loadText_, "input values from .npy files, e.g. input:x.npy,mask:m.npy")
        ->multi_option_policy(join);
    app_->add_option("--saveOutputs", saveDir_, "write each output to DIR/<output>.npy");
    app_->add_option("--compare", comparePath_, "ONNX model to compare with (built for the CPU at these shapes)");
    app_->add_option("--compareOutputs", compareDir_, "reference outputs DIR/<output>.npy to compare with");
    app_->add_option("--seed", seed_, "seed for random inputs (default: a fresh one, printed)");
    app_->add_option("--profile", profile_, "optimization profile index")->check(CLI::NonNegativeNumber);
    app_->add_option("--maxErrorToScale", maxErrorToScale_,
                     "--compare/--compareOutputs pass when max|out - ref| <= this x max|ref| (default 1e-4 for "
                     "strict FP32 engines, 2e-2 for FP16/BF16/TF32 ones)")
        ->check(CLI::NonNegativeNumber);
    app_->add_option("--minCosine", minCosine_,
                     "--compare/--compareOutputs need at least this cosine similarity (default 0.9999 strict "
                     "FP32, 0.999 reduced)")
        ->check(CLI::Range(-1.0, 1.0));
    app_->add_option("--printValues", printCount_, "values printed per output")->check(CLI::NonNegativeNumber);
    app_->add_flag("--traceLayers", traceLayers_,
                   "run layer by layer twice, on memory filled with 0x00 and then 0xFF, and name the first layer "
                   "whose output differs: a layer that reads memory no one wrote (also done when two runs disagree)");
    app_->add_flag("--findRace", findRace_,
                   "run the layers with a synchronization after each, then with none, then with all but one, and "
                   "name the adjacent layers whose missing barrier changes the answer (also done when two runs "
                   "disagree)");
  }

  CLI::App* app() const override { return app_; }

  Status checkUsage() override {
    if (!shapesText_.empty()) {
      KILN_ASSIGN_OR_RETURN(plan_.shapes, parseShapeList(shapesText_, "--shapes"));
    }
    if (!loadText_.empty()) {
      KILN_ASSIGN_OR_RETURN(plan_.files, parsePathList(loadText_, "--loadInputs"));
    }
    return Status::ok();
  }

  Status execute() override {
    const auto loadStart = std::chrono::steady_clock::now();
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, loadEngine(enginePath_));
    const double loadMs = msSince(loadStart);
    chooseTolerance(*engine);
    std::printf("engine  %s (%s, %d profile(s))\n", enginePath_.c_str(), deviceKindName(engine->device()),
                engine->profileCount());
    plan_.seed = app_->count("--seed") ? seed_ : std::random_device{}();
    std::printf("seed    %llu\n", static_cast<unsigned long long>(plan_.seed));
    KILN_ASSIGN_OR_RETURN(auto inputs, prepareInputs(*engine, profile_, plan_, /*verbose=*/true));

    // What a server loading models on demand waits for (issue 12): file to engine, the context, the first answer;
    // the second inference is the warm figure to compare with.
    const auto contextStart = std::chrono::steady_clock::now();
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine->createContext(profile_));
    const double contextMs = msSince(contextStart);
    const auto firstStart = std::chrono::steady_clock::now();
    auto outputs = context->infer(inputs);
    const double firstMs = msSince(firstStart);
    if (!outputs) return outputs.status();
    const auto secondStart = std::chrono::steady_clock::now();
    auto again = context->infer(inputs);
    const double secondMs = msSince(secondStart);
    if (!again) return again.status().withContext("second inference");
    if (Status agree = checkRunsAgree(*outputs, *again); !agree.isOk()) {
      auto trace = traceUnwrittenReads(*context, inputs);
      auto race = describeRace(*context, inputs);
      return internalError(agree.message() + "; " + (trace ? *trace : "layer trace failed: " + trace.status().message()) +
                           "; " + (race ? *race : "race search failed: " + race.status().message()));
    }
    if (traceLayers_) {
      KILN_ASSIGN_OR_RETURN(std::string trace, traceUnwrittenReads(*context, inputs));
      std::printf("trace   %s\n", trace.c_str());
    }
    if (findRace_) {
      KILN_ASSIGN_OR_RETURN(std::string race, describeRace(*context, inputs));
      std::printf("race    %s\n", race.c_str());
    }
    for (const TensorDesc& desc : engine->outputs()) {
      auto it = outputs->find(desc.name);
      if (it == outputs->end()) return internalError("the engine produced no value for output '" + desc.name + "'");
      std::printf("output '%s' %s [%s] %s\n", desc.name.c_str(), dataTypeName(it->second.dtype()).c_str(),
                  dimsToString(it->second.dims()).c_str(), formatValues(it->second, printCount_).c_str());
    }
    std::printf("time    load %.1f ms, context %.1f ms, first inference %.3f ms, second %.3f ms (host tensors in "
                "and out)\n", loadMs, contextMs, firstMs, secondMs);
    if (!saveDir_.empty()) KILN_RETURN_IF_ERROR(saveOutputs(*outputs));
    if (!comparePath_.empty()) KILN_RETURN_IF_ERROR(compareWithOnnx(inputs, *outputs));
    if (!compareDir_.empty()) KILN_RETURN_IF_ERROR(compareWithFiles(*outputs));
    return Status::ok();
  }

 private:
  /// The same inputs twice in one context must give the same answer (up to GPU reduction order): anything else is
  /// state one run leaves for the next, a kiln bug, and an error rather than a silent wrong answer.
  static Status checkRunsAgree(const std::map<std::string, Tensor>& first, const std::map<std::string, Tensor>& second) {
    for (const auto& [name, a] : first) {
      auto it = second.find(name);
      if (it == second.end() || it->second.dims() != a.dims())
        return internalError("the second inference gave output '" + name + "' another shape than the first");
      const Tensor& b = it->second;
      if (a.byteSize() == b.byteSize() && std::memcmp(a.data(), b.data(), a.byteSize()) == 0) continue;
      const OutputAgreement agree = judgeOutput(b, a, Tolerance{.maxErrorToScale = 1e-3, .minCosine = 0.99999});
      if (agree.verdict != Verdict::kPass)
        return internalError("the second inference with the same inputs differs from the first: output '" + name +
                             "': " + describeAgreement(agree) + " (state left by a run: a kiln bug, please report)");
    }
    return Status::ok();
  }

  /// Two layer-by-layer runs on memory poisoned with different bytes: the first layer whose outputs differ reads
  /// memory that nothing in the run wrote (ExecutionContext::traceLayers).
  static Expected<std::string> traceUnwrittenReads(ExecutionContext& context, const std::map<std::string, Tensor>& inputs) {
    KILN_ASSIGN_OR_RETURN(auto zeros, context.traceLayers(inputs, 0x00));
    KILN_ASSIGN_OR_RETURN(auto ones, context.traceLayers(inputs, 0xFF));
    for (size_t i = 0; i < zeros.size() && i < ones.size(); ++i) {
      const auto& a = zeros[i];
      const auto& b = ones[i];
      if (a.bitsHash == b.bitsHash) continue;
      char text[256];
      std::snprintf(text, sizeof(text), " (sum|x| %.6g vs %.6g, max|x| %.4g vs %.4g, NaN/Inf %lld vs %lld)", a.sumAbs,
                    b.sumAbs, a.maxAbs, b.maxAbs, static_cast<long long>(a.nonFinite),
                    static_cast<long long>(b.nonFinite));
      return "layer " + std::to_string(i) + " '" + a.name + "' (" + a.op + ", tactic " + a.tactic +
             ") answers differently on memory filled with 0x00 and with 0xFF: it reads memory that no layer wrote" +
             text;
    }
    return std::string("every layer's output is the same on memory filled with 0x00 and with 0xFF (") +
           std::to_string(zeros.size()) + " layers): no layer reads unwritten memory at these shapes";
  }

  /// ExecutionContext::findRacingBoundaries, in words.
  static Expected<std::string> describeRace(ExecutionContext& context, const std::map<std::string, Tensor>& inputs) {
    constexpr int kRepeats = 4;
    KILN_ASSIGN_OR_RETURN(ExecutionContext::RaceSearch s, context.findRacingBoundaries(inputs, kRepeats));
    char head[200];
    std::snprintf(head, sizeof(head), "%d of %d runs without barriers between the %zu layers differ from one with "
                  "barriers (worst %.3g of scale)", s.plainRunsWrong, s.plainRuns, s.layers, s.worstPlainError);
    std::string text = head;
    if (s.plainRunsWrong == 0) return text + ": no race between layers seen at these shapes";
    for (const auto& b : s.boundaries)
      text += "; without the barrier after layer " + std::to_string(b.index) + " alone, " +
              std::to_string(b.wrongRuns) + "/" + std::to_string(kRepeats) + " wrong: " + b.before + " [" +
              b.beforeTactic + "] then " + b.after + " [" + b.afterTactic + "]";
    if (s.boundaries.empty())
      text += "; no single missing barrier reproduces it; the first " + std::to_string(s.openPrefix) +
              " boundaries open together do";
    return text;
  }

  Status saveOutputs(const std::map<std::string, Tensor>& outputs) const {
    std::error_code ec;
    std::filesystem::create_directories(saveDir_, ec);
    if (ec) return ioError("cannot create --saveOutputs directory '" + saveDir_ + "': " + ec.message());
    for (const auto& [name, tensor] : outputs) {
      const std::string path = (std::filesystem::path(saveDir_) / (safeFileName(name) + ".npy")).string();
      KILN_RETURN_IF_ERROR(writeNpyFile(path, tensor).withContext("output '" + name + "'"));
      std::printf("saved   '%s' -> %s\n", name.c_str(), path.c_str());
    }
    return Status::ok();
  }

  Status compareWithOnnx(const std::map<std::string, Tensor>& inputs, const std::map<std::string, Tensor>& outputs) {
    KILN_RETURN_IF_ERROR(checkReadableFile(comparePath_));
    auto network = parseOnnxFile(comparePath_);
    if (!network) return network.status().withContext("--compare: cannot import '" + comparePath_ + "'");
    // A CPU engine for exactly these shapes: the reference backend, one fixed profile.
    BuilderConfig config;
    config.device = DeviceKind::kCpu;
    config.disallow(Precision::kTF32);
    OptimizationProfile profile;
    for (const TensorDesc& in : network->inputs()) {
      auto it = inputs.find(in.name);
      if (it == inputs.end())
        return invalidArgument("--compare: '" + comparePath_ + "' has input '" + in.name + "', which the engine lacks");
      bool dynamic = false;
      for (int64_t d : in.dims) dynamic = dynamic || d == kDynamicDim;
      if (dynamic) profile.inputs.push_back({in.name, it->second.dims(), it->second.dims(), it->second.dims()});
    }
    config.addProfile(profile);
    auto plan = buildEngine(*network, config);
    if (!plan) return plan.status().withContext("--compare: cannot build a CPU engine from '" + comparePath_ + "'");
    auto reference = Engine::loadFromMemory(plan->data(), plan->size());
    if (!reference) return reference.status().withContext("--compare: cannot load the reference engine");
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, (*reference)->createContext(0));
    auto expected = context->infer(inputs);
    if (!expected) return expected.status().withContext("--compare: reference run failed");

    std::printf("compare with %s on CPU (%s)\n", comparePath_.c_str(), toleranceText_.c_str());
    return reportAgreement(*expected, outputs, "the CPU reference").withContext("--compare");
  }

  /// --compareOutputs=DIR: DIR/<output>.npy for every output (as --saveOutputs writes them).
  Status compareWithFiles(const std::map<std::string, Tensor>& outputs) {
    std::map<std::string, Tensor> expected;
    for (const auto& [name, t] : outputs) {
      const std::string path = (std::filesystem::path(compareDir_) / (safeFileName(name) + ".npy")).string();
      auto ref = readNpyFile(path);
      if (!ref) return ref.status().withContext("--compareOutputs: reference for output '" + name + "'");
      if (ref->dtype() != t.dtype())
        return invalidArgument("--compareOutputs: '" + path + "' holds " + dataTypeName(ref->dtype()) + ", output '" +
                               name + "' is " + dataTypeName(t.dtype()));
      expected[name] = std::move(*ref);
    }
    std::printf("compare with %s/*.npy (%s)\n", compareDir_.c_str(), toleranceText_.c_str());
    return reportAgreement(expected, outputs, "the reference files").withContext("--compareOutputs");
  }

  /// The engine's precisions pick the default tolerance; --maxErrorToScale / --minCosine override it.
  void chooseTolerance(const Engine& engine) {
    const auto& meta = engine.metadata();
    auto it = meta.find("build.precisions");
    const std::string precisions = it == meta.end() ? "fp32" : it->second;
    tolerance_ = toleranceForEngine(precisions, engine.device());
    if (app_->count("--maxErrorToScale")) tolerance_.maxErrorToScale = maxErrorToScale_;
    if (app_->count("--minCosine")) tolerance_.minCosine = minCosine_;
    toleranceText_ = "pass: " + tolerance_.describe() + "; engine precisions " + precisions;
  }

  Status reportAgreement(const std::map<std::string, Tensor>& expected, const std::map<std::string, Tensor>& outputs,
                         const std::string& against) const {
    std::string failed, degenerate;
    for (const auto& [name, ref] : expected) {
      auto it = outputs.find(name);
      if (it == outputs.end()) {
        std::printf("  '%s': missing from the engine's outputs  FAIL\n", name.c_str());
        failed += " '" + name + "'";
        continue;
      }
      const Tensor& got = it->second;
      if (got.dims() != ref.dims() || got.dtype() != ref.dtype()) {
        std::printf("  '%s': %s [%s], reference %s [%s]  FAIL\n", name.c_str(), dataTypeName(got.dtype()).c_str(),
                    dimsToString(got.dims()).c_str(), dataTypeName(ref.dtype()).c_str(),
                    dimsToString(ref.dims()).c_str());
        failed += " '" + name + "'";
        continue;
      }
      const OutputAgreement a = judgeOutput(got, ref, tolerance_);
      std::printf("  '%s': %s", name.c_str(), describeAgreement(a).c_str());
      if (a.verdict == Verdict::kFail && a.worstIndex >= 0)
        std::printf("; worst at flat index %lld: %.8g vs %.8g", static_cast<long long>(a.worstIndex),
                    elementAsDouble(got, a.worstIndex), elementAsDouble(ref, a.worstIndex));
      std::printf("\n");
      if (a.verdict == Verdict::kFail) failed += " '" + name + "'";
      if (a.verdict == Verdict::kDegenerate) degenerate += " '" + name + "'";
    }
    std::string problems;
    if (!failed.empty()) problems = "outputs differ from " + against + " (" + tolerance_.describe() + "):" + failed;
    if (!degenerate.empty())
      problems += std::string(problems.empty() ? "" : "; ") + "degenerate reference (all zero, constant or NaN/Inf) "
                  "from " + against + ", which proves nothing:" + degenerate;
    std::printf("compare %s\n", !failed.empty() ? "FAIL" : !degenerate.empty() ? "DEGENERATE" : "PASS");
    if (!problems.empty()) return invalidArgument(problems);
    return Status::ok();
  }

  CLI::App* app_ = nullptr;
  bool traceLayers_ = false, findRace_ = false;
  std::string enginePath_, shapesText_, loadText_, saveDir_, comparePath_, compareDir_;
  uint64_t seed_ = 0;
  int profile_ = 0;
  double maxErrorToScale_ = 0, minCosine_ = 0;
  Tolerance tolerance_;
  std::string toleranceText_;
  int64_t printCount_ = 8;
  InputPlan plan_;
};

}  // namespace

std::unique_ptr<Command> makeRunCommand(CLI::App& root) { return std::make_unique<RunCommand>(root); }

}  // namespace kiln::cli

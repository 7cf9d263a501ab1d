// kiln run: load an engine, run it once on given or random inputs, print (and save) the outputs, and optionally
// compare them with a CPU engine built from the ONNX model for exactly these shapes.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "cli_support.h"
#include "core/npy.h"
#include "kiln/builder.h"

namespace kiln::cli {
namespace {

struct Agreement {
  double maxAbs = 0, maxRel = 0, cosine = 1;
  int64_t mismatches = 0;
  int64_t worstIndex = -1;
};

// numpy.allclose semantics (|a - b| <= atol + rtol * |ref|); NaN matches only NaN, inf only the same inf.
Agreement compareTensors(const Tensor& got, const Tensor& ref, double rtol, double atol) {
  Agreement a;
  double dot = 0, normGot = 0, normRef = 0, worst = -1;
  const int64_t n = ref.elementCount();
  for (int64_t i = 0; i < n; ++i) {
    const double x = elementAsDouble(got, i), y = elementAsDouble(ref, i);
    bool ok;
    double diff;
    if (std::isnan(x) || std::isnan(y)) {
      ok = std::isnan(x) && std::isnan(y);
      diff = ok ? 0 : INFINITY;
    } else if (std::isinf(x) || std::isinf(y)) {
      ok = x == y;
      diff = ok ? 0 : INFINITY;
    } else {
      diff = std::fabs(x - y);
      ok = diff <= atol + rtol * std::fabs(y);
      dot += x * y, normGot += x * x, normRef += y * y;
    }
    a.maxAbs = std::max(a.maxAbs, diff);
    if (diff > 0) a.maxRel = std::max(a.maxRel, diff / std::max(std::fabs(y), 1e-30));
    if (!ok) {
      ++a.mismatches;
      if (diff > worst) worst = diff, a.worstIndex = i;
    }
  }
  if (normGot > 0 && normRef > 0) a.cosine = dot / (std::sqrt(normGot) * std::sqrt(normRef));
  else a.cosine = (normGot == 0 && normRef == 0) ? 1.0 : 0.0;
  return a;
}

class RunCommand : public Command {
 public:
  explicit RunCommand(CLI::App& root) {
    app_ = root.add_subcommand("run", "Run an engine once and print its outputs");
    app_->footer(kRandomInputsHelp);
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
    app_->add_option("--rtol", rtol_, "relative tolerance for --compare")->check(CLI::NonNegativeNumber);
    app_->add_option("--atol", atol_, "absolute tolerance for --compare")->check(CLI::NonNegativeNumber);
    app_->add_option("--printValues", printCount_, "values printed per output")->check(CLI::NonNegativeNumber);
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
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, loadEngine(enginePath_));
    std::printf("engine  %s (%s, %d profile(s))\n", enginePath_.c_str(), deviceKindName(engine->device()),
                engine->profileCount());
    plan_.seed = app_->count("--seed") ? seed_ : std::random_device{}();
    std::printf("seed    %llu\n", static_cast<unsigned long long>(plan_.seed));
    KILN_ASSIGN_OR_RETURN(auto inputs, prepareInputs(*engine, profile_, plan_, /*verbose=*/true));

    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine->createContext(profile_));
    const auto start = std::chrono::steady_clock::now();
    auto outputs = context->infer(inputs);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!outputs) return outputs.status();
    for (const TensorDesc& desc : engine->outputs()) {
      auto it = outputs->find(desc.name);
      if (it == outputs->end()) return internalError("the engine produced no value for output '" + desc.name + "'");
      std::printf("output '%s' %s [%s] %s\n", desc.name.c_str(), dataTypeName(it->second.dtype()).c_str(),
                  dimsToString(it->second.dims()).c_str(), formatValues(it->second, printCount_).c_str());
    }
    std::printf("time    %.3f ms (one inference, host tensors in and out)\n", ms);
    if (!saveDir_.empty()) KILN_RETURN_IF_ERROR(saveOutputs(*outputs));
    if (!comparePath_.empty()) KILN_RETURN_IF_ERROR(compareWithOnnx(inputs, *outputs));
    if (!compareDir_.empty()) KILN_RETURN_IF_ERROR(compareWithFiles(*outputs));
    return Status::ok();
  }

 private:
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

    std::printf("compare with %s on CPU (rtol %g, atol %g)\n", comparePath_.c_str(), rtol_, atol_);
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
    std::printf("compare with %s/*.npy (rtol %g, atol %g)\n", compareDir_.c_str(), rtol_, atol_);
    return reportAgreement(expected, outputs, "the reference files").withContext("--compareOutputs");
  }

  Status reportAgreement(const std::map<std::string, Tensor>& expected, const std::map<std::string, Tensor>& outputs,
                         const std::string& against) const {
    std::string failed;
    for (const auto& [name, ref] : expected) {
      auto it = outputs.find(name);
      if (it == outputs.end()) {
        std::printf("  '%s': missing from the engine's outputs  FAIL\n", name.c_str());
        failed += " '" + name + "'";
        continue;
      }
      const Tensor& got = it->second;
      if (got.dims() != ref.dims()) {
        std::printf("  '%s': shape %s, reference %s  FAIL\n", name.c_str(), dimsToString(got.dims()).c_str(),
                    dimsToString(ref.dims()).c_str());
        failed += " '" + name + "'";
        continue;
      }
      const Agreement a = compareTensors(got, ref, rtol_, atol_);
      const bool pass = a.mismatches == 0;
      std::printf("  '%s': max abs %.3g  max rel %.3g  cosine %.8f  %s", name.c_str(), a.maxAbs, a.maxRel, a.cosine,
                  pass ? "PASS" : "FAIL");
      if (!pass)
        std::printf(" (%lld of %lld values outside tolerance; worst at flat index %lld: %.8g vs %.8g)",
                    static_cast<long long>(a.mismatches), static_cast<long long>(ref.elementCount()),
                    static_cast<long long>(a.worstIndex), elementAsDouble(got, a.worstIndex),
                    elementAsDouble(ref, a.worstIndex));
      std::printf("\n");
      if (!pass) failed += " '" + name + "'";
    }
    if (!failed.empty())
      return invalidArgument("outputs differ from " + against + " beyond rtol " + std::to_string(rtol_) +
                             ", atol " + std::to_string(atol_) + ":" + failed);
    std::printf("compare PASS\n");
    return Status::ok();
  }

  CLI::App* app_ = nullptr;
  std::string enginePath_, shapesText_, loadText_, saveDir_, comparePath_, compareDir_;
  uint64_t seed_ = 0;
  int profile_ = 0;
  double rtol_ = 1e-4, atol_ = 1e-5;
  int64_t printCount_ = 8;
  InputPlan plan_;
};

}  // namespace

std::unique_ptr<Command> makeRunCommand(CLI::App& root) { return std::make_unique<RunCommand>(root); }

}  // namespace kiln::cli

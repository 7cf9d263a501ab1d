// kiln build: ONNX model -> engine file, with one optimization profile from --minShapes/--optShapes/--maxShapes
// (or --shapes for a fixed shape). Inputs whose dims are all static need no flags.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli_support.h"
#include "kiln/builder.h"

namespace kiln::cli {
namespace {

class BuildCommand : public Command {
 public:
  explicit BuildCommand(CLI::App& root) {
    app_ = root.add_subcommand("build", "Build an engine file from an ONNX model");
    app_->add_option("model", modelPath_, "ONNX model file")->required();
    app_->add_option("-o,--output", enginePath_, "engine file to write")->required();
    const auto join = CLI::MultiOptionPolicy::Join;
    app_->add_option("--minShapes", minText_, "smallest shapes, e.g. input:1x3x256x144[,mask:1x16]")
        ->multi_option_policy(join);
    app_->add_option("--optShapes", optText_, "shapes to tune for")->multi_option_policy(join);
    app_->add_option("--maxShapes", maxText_, "largest shapes")->multi_option_policy(join);
    app_->add_option("--shapes", fixedText_, "fixed shapes (min = opt = max)")->multi_option_policy(join);
    app_->add_option("--device", device_, "cpu or cuda (default: cuda when a GPU is visible)")->check(CLI::IsMember({"cpu", "cuda"}));
    app_->add_flag("--fp16", fp16_, "allow FP16 kernels");
    app_->add_flag("--bf16", bf16_, "allow BF16 kernels");
    app_->add_flag("--noTF32", noTf32_, "forbid TF32 for FP32 math");
    app_->add_option("--timingCache", timingCache_, "timing cache file (read and updated)");
    app_->add_option("--workspace", workspaceMiB_, "per-kernel scratch limit in MiB (0 = no limit)")
        ->check(CLI::NonNegativeNumber);
    app_->add_option("--layerPrecisions", layerPrecisionsText_,
                     "per-layer precision pins, e.g. '/m/layer1/*:fp32,head:fp16' (* and ? wildcards)")
        ->multi_option_policy(join);
    app_->add_option("--precisionConstraints", precisionConstraints_,
                     "prefer (default): a pin falls back to FP32 where it cannot hold; obey: it holds or the build "
                     "fails")
        ->check(CLI::IsMember({"prefer", "obey"}));
    app_->add_flag("--noAccuracyGuard", noAccuracyGuard_,
                   "FP16/BF16: skip the build-time check against the FP32 path that keeps wrong layers in FP32");
    app_->add_flag("--noRunAgreementCheck", noRunAgreementCheck_,
                   "CUDA: skip running the engine twice at build time (and fencing layers whose runs race); for "
                   "diagnosing a racing engine with kiln run --findRace");
    app_->add_option("--calibData", calibText_, "inputs for the accuracy guard: input:DIR of .npy batches[,input2:DIR]")
        ->multi_option_policy(join);
    app_->add_flag("--int8", int8_,
                   "allow INT8: activations calibrated (--calib or --calibCache), weights per channel; simulated with "
                   "Q/DQ in float until INT8 kernels exist");
    app_->add_option("--calib", int8CalibText_, "INT8 calibration batches: input:DIR of .npy files[,input2:DIR]")
        ->multi_option_policy(join);
    app_->add_option("--calibCache", calibCache_, "INT8 calibration cache: read when it exists, else written "
                                                  "(docs/calibration-cache.md)");
    app_->add_option("--calibMethod", calibMethod_, "entropy (default, KL divergence), minmax or percentile")
        ->check(CLI::IsMember({"entropy", "minmax", "percentile"}));
    app_->add_option("--calibPercentile", calibPercentile_, "percentile of |x| for --calibMethod=percentile "
                                                            "(default 99.99)")
        ->check(CLI::Range(50.0, 100.0));
    app_->add_option("--builderOptimizationLevel", optimizationLevel_,
                     "0: no tactic timing (fast builds for accuracy checks); 1-5: time tactics (default 3)")
        ->check(CLI::Range(0, 5));
    app_->add_flag("--verbose", verbose_, "print every pass and every tuned layer");
    app_->add_flag("--quiet", quiet_, "do not print tuning progress");
  }

  CLI::App* app() const override { return app_; }

  Status checkUsage() override {
    if (workspaceMiB_ > (uint64_t{1} << 30)) return invalidArgument("--workspace is in MiB; at most 2^30");
    KILN_RETURN_IF_ERROR(parseGroup(minText_, "--minShapes", min_));
    KILN_RETURN_IF_ERROR(parseGroup(optText_, "--optShapes", opt_));
    KILN_RETURN_IF_ERROR(parseGroup(maxText_, "--maxShapes", max_));
    KILN_RETURN_IF_ERROR(parseGroup(fixedText_, "--shapes", fixed_));
    KILN_RETURN_IF_ERROR(parseLayerPrecisions());
    KILN_RETURN_IF_ERROR(parseCalibData());
    const bool anyRange = !min_.empty() || !opt_.empty() || !max_.empty();
    if (anyRange && !fixed_.empty()) return invalidArgument("give either --shapes or --minShapes/--optShapes/--maxShapes");
    if (anyRange) {
      // Every input named in one group must appear in all three, with the same rank and min <= opt <= max.
      for (const auto* group : {&min_, &opt_, &max_})
        for (const NamedShape& s : *group) {
          const NamedShape* lo = findShape(min_, s.name);
          const NamedShape* mid = findShape(opt_, s.name);
          const NamedShape* hi = findShape(max_, s.name);
          if (!lo || !mid || !hi)
            return invalidArgument("input '" + s.name + "' needs a shape in each of --minShapes, --optShapes and "
                                   "--maxShapes");
          if (lo->dims.size() != mid->dims.size() || mid->dims.size() != hi->dims.size())
            return invalidArgument("input '" + s.name + "': min/opt/max shapes " + dimsToString(lo->dims) + ", " +
                                   dimsToString(mid->dims) + ", " + dimsToString(hi->dims) + " differ in rank");
          for (size_t i = 0; i < lo->dims.size(); ++i)
            if (lo->dims[i] > mid->dims[i] || mid->dims[i] > hi->dims[i])
              return invalidArgument("input '" + s.name + "' dimension " + std::to_string(i) +
                                     ": need min <= opt <= max, got " + std::to_string(lo->dims[i]) + ", " +
                                     std::to_string(mid->dims[i]) + ", " + std::to_string(hi->dims[i]));
        }
    }
    return Status::ok();
  }

  Status execute() override {
    KILN_RETURN_IF_ERROR(checkReadableFile(modelPath_));
    const auto parseStart = std::chrono::steady_clock::now();
    auto network = parseOnnxFile(modelPath_);
    if (!network) return network.status().withContext("cannot import '" + modelPath_ + "'");
    const double parseSeconds = secondsSince(parseStart);
    std::printf("model   %s (%zu nodes, parsed in %.3f s)\n", modelPath_.c_str(), network->nodeCount(), parseSeconds);

    BuilderConfig config;
    config.device = device_ == "cuda" ? DeviceKind::kCuda : device_ == "cpu" ? DeviceKind::kCpu : defaultDevice();
    if (fp16_) config.allow(Precision::kFP16);
    if (bf16_) config.allow(Precision::kBF16);
    if (noTf32_) config.disallow(Precision::kTF32);
    config.timingCachePath = timingCache_;
    config.workspaceLimitBytes = static_cast<size_t>(workspaceMiB_) << 20;
    config.verbose = verbose_;
    config.showProgress = !quiet_;
    config.layerPrecisions = pins_;
    config.precisionConstraints =
        precisionConstraints_ == "obey" ? PrecisionConstraints::kObey : PrecisionConstraints::kPrefer;
    config.accuracyGuard = !noAccuracyGuard_;
    config.runAgreementCheck = !noRunAgreementCheck_;
    config.calibrationData = calib_;
    if (int8_) {
      config.allow(Precision::kINT8);
      config.calibrationCachePath = calibCache_;
      config.calibrationMethod = calibMethod_ == "minmax"       ? CalibrationMethod::kMinMax
                                 : calibMethod_ == "percentile" ? CalibrationMethod::kPercentile
                                                                : CalibrationMethod::kEntropy;
      config.calibrationPercentile = calibPercentile_;
    }
    config.builderOptimizationLevel = optimizationLevel_;
    KILN_ASSIGN_OR_RETURN(OptimizationProfile profile, makeProfile(*network));
    config.addProfile(profile);

    for (const TensorDesc& in : network->inputs()) {
      std::printf("input   %s", describeTensor(in).c_str());
      for (const InputShapeRange& r : profile.inputs)
        if (r.name == in.name)
          std::printf("  min %s  opt %s  max %s", dimsToString(r.min).c_str(), dimsToString(r.opt).c_str(),
                      dimsToString(r.max).c_str());
      std::printf("\n");
    }
    for (const TensorDesc& out : network->outputs()) std::printf("output  %s\n", describeTensor(out).c_str());
    std::printf("device  %s  precisions: fp32%s%s%s%s\n", deviceKindName(config.device),
                config.allows(Precision::kTF32) ? " tf32" : "", fp16_ ? " fp16" : "", bf16_ ? " bf16" : "",
                int8_ ? " int8 (simulated: Q/DQ in float until INT8 kernels exist)" : "");
    std::fflush(stdout);

    const auto buildStart = std::chrono::steady_clock::now();
    auto plan = buildEngine(*network, config);
    if (!plan) return plan.status().withContext("cannot build an engine from '" + modelPath_ + "'");
    const double buildSeconds = secondsSince(buildStart);
    KILN_RETURN_IF_ERROR(writeFile(enginePath_, *plan));
    std::printf("built   %s: %.2f MiB in %.3f s\n", enginePath_.c_str(), static_cast<double>(plan->size()) / (1 << 20),
                buildSeconds);
    return Status::ok();
  }

 private:
  static double secondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

  // "pattern:fp32,pattern:fp16": the pattern may itself hold ':' (ONNX names do), so it ends at the last one.
  Status parseLayerPrecisions() {
    pins_.clear();
    if (layerPrecisionsText_.empty()) return Status::ok();
    KILN_ASSIGN_OR_RETURN(auto items, parseNamedValueList(layerPrecisionsText_, "--layerPrecisions"));
    for (const NamedPath& item : items) {
      LayerPrecision pin;
      pin.pattern = item.name;
      if (item.path == "fp32") pin.precision = Precision::kFP32;
      else if (item.path == "fp16") pin.precision = Precision::kFP16;
      else if (item.path == "bf16") pin.precision = Precision::kBF16;
      else return invalidArgument("--layerPrecisions entry '" + item.name + ":" + item.path + "': expected NAME:fp32, "
                                  "NAME:fp16 or NAME:bf16");
      pins_.push_back(std::move(pin));
    }
    return Status::ok();
  }

  Status parseCalibData() {
    calib_.clear();
    // --calibData (the accuracy guard's) and --calib (INT8 calibration) fill one map: both are input:DIR of batches.
    for (const auto& [text, flag] : {std::pair{calibText_, "--calibData"}, std::pair{int8CalibText_, "--calib"}}) {
      if (text.empty()) continue;
      KILN_ASSIGN_OR_RETURN(auto items, parsePathList(text, flag));
      for (NamedPath& item : items) {
        if (auto it = calib_.find(item.name); it != calib_.end() && it->second != item.path)
          return invalidArgument(std::string(flag) + " gives input '" + item.name + "' the folder '" + item.path +
                                 "', another flag gave it '" + it->second + "'");
        calib_[item.name] = std::move(item.path);
      }
    }
    if (!int8_ && (!int8CalibText_.empty() || !calibCache_.empty() || !calibMethod_.empty()))
      return invalidArgument("--calib, --calibCache and --calibMethod need --int8");
    if (int8_ && calib_.empty() && calibCache_.empty())
      return invalidArgument("--int8 needs calibration data (--calib=input:DIR) or a cache (--calibCache=FILE)");
    return Status::ok();
  }

  static Status parseGroup(const std::string& text, const char* flag, std::vector<NamedShape>& out) {
    if (text.empty()) return Status::ok();
    KILN_ASSIGN_OR_RETURN(out, parseShapeList(text, flag));
    return Status::ok();
  }

  // One profile: ranges from the flags for the inputs they name; inputs with dynamic dims and no flag are an error
  // that names them and their declared dims.
  Expected<OptimizationProfile> makeProfile(const Network& network) const {
    OptimizationProfile profile;
    const std::vector<TensorDesc> inputs = network.inputs();
    std::string inputNames;
    for (const TensorDesc& in : inputs) inputNames += (inputNames.empty() ? "'" : ", '") + in.name + "'";
    for (const auto* group : {&min_, &fixed_})
      for (const NamedShape& s : *group) {
        bool known = false;
        for (const TensorDesc& in : inputs) known = known || in.name == s.name;
        if (!known)
          return invalidArgument("shape flags name '" + s.name + "', which is not an input of '" + modelPath_ +
                                 "' (inputs: " + inputNames + ")");
      }
    std::string missing;
    for (const TensorDesc& in : inputs) {
      if (const NamedShape* f = findShape(fixed_, in.name)) {
        profile.inputs.push_back({in.name, f->dims, f->dims, f->dims});
      } else if (const NamedShape* lo = findShape(min_, in.name)) {
        profile.inputs.push_back({in.name, lo->dims, findShape(opt_, in.name)->dims, findShape(max_, in.name)->dims});
      } else {
        for (int64_t d : in.dims)
          if (d == kDynamicDim) {
            missing += "\n  " + describeTensor(in);
            break;
          }
      }
    }
    if (!missing.empty())
      return invalidArgument("these inputs have dynamic dims; give their ranges with --minShapes/--optShapes/"
                             "--maxShapes (or a fixed --shapes):" + missing);
    return profile;
  }

  CLI::App* app_ = nullptr;
  std::string modelPath_, enginePath_, minText_, optText_, maxText_, fixedText_, device_, timingCache_;
  std::vector<NamedShape> min_, opt_, max_, fixed_;
  std::string layerPrecisionsText_, precisionConstraints_ = "prefer", calibText_;
  std::string int8CalibText_, calibCache_, calibMethod_;
  double calibPercentile_ = 99.99;
  bool int8_ = false;
  std::vector<LayerPrecision> pins_;
  std::map<std::string, std::string> calib_;
  int optimizationLevel_ = 3;
  bool fp16_ = false, bf16_ = false, noTf32_ = false, verbose_ = false, quiet_ = false, noAccuracyGuard_ = false,
       noRunAgreementCheck_ = false;
  uint64_t workspaceMiB_ = 0;
};

}  // namespace

std::unique_ptr<Command> makeBuildCommand(CLI::App& root) { return std::make_unique<BuildCommand>(root); }

}  // namespace kiln::cli

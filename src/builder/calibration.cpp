#include "builder/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/npy.h"
#include "builder/probe_engine.h"
#include "kiln/runtime.h"
#include "passes/insert_quantization.h"
#include "runtime/shape_program.h"

namespace kiln::builder {
namespace {

using ir::OpKind;

/// max |x| of a float32 tensor (NaN ignored).
double maxAbs(const Tensor& t) {
  double m = 0;
  const float* p = t.dataAs<float>();
  for (int64_t i = 0; i < t.elementCount(); ++i)
    if (std::isfinite(p[i])) m = std::max(m, static_cast<double>(std::fabs(p[i])));
  return m;
}

void addToHistogram(const Tensor& t, double binWidth, std::vector<double>& histogram) {
  const float* p = t.dataAs<float>();
  const auto last = static_cast<int64_t>(histogram.size()) - 1;
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    if (!std::isfinite(p[i])) continue;
    const auto bin = static_cast<int64_t>(std::fabs(p[i]) / binWidth);
    histogram[static_cast<size_t>(std::min(bin, last))] += 1;
  }
}

double klDivergence(const std::vector<double>& p, const std::vector<double>& q) {
  double ps = 0, qs = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    ps += p[k];
    qs += q[k];
  }
  if (ps <= 0 || qs <= 0) return INFINITY;
  // Where Q has no mass but P has some, Q gets a small floor instead of making the divergence infinite.
  constexpr double kFloor = 1e-10;
  double kl = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    if (p[k] <= 0) continue;
    const double pk = p[k] / ps, qk = std::max(q[k] / qs, kFloor);
    kl += pk * std::log(pk / qk);
  }
  return kl;
}

}  // namespace

Expected<std::vector<std::string>> calibrationBatchFiles(const std::string& input, const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".npy") files.push_back(entry.path().string());
  if (ec) return ioError("calibration data for input '" + input + "': cannot list '" + dir + "': " + ec.message());
  if (files.empty()) return invalidArgument("calibration data for input '" + input + "': no .npy file in '" + dir + "'");
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<ir::ValueId> quantizedActivations(const ir::Graph& graph) {
  std::vector<ir::ValueId> out;
  for (const ir::Node& n : graph.nodes) {
    if (n.op != OpKind::kConv && n.op != OpKind::kGemm && n.op != OpKind::kMatMul) continue;
    for (size_t s = 0; s < n.inputs.size() && s < 2; ++s) {
      const ir::ValueId v = n.inputs[s];
      if (v == ir::kNoValue || graph.isConstant(v) || graph.values[v].dtype != DataType::kFloat32) continue;
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    }
  }
  return out;
}

double entropyThreshold(const std::vector<double>& histogram, double binWidth) {
  const int bins = static_cast<int>(histogram.size());
  if (bins <= kQuantizedLevels) return bins * binWidth;
  // Bin 0 (|x| near 0) holds every zero a ReLU makes; that spike would dominate both distributions and say little
  // about where to clip, so it counts as much as bin 1 (as NVIDIA's pytorch-quantization entropy calibrator does).
  // Not where bin 1 is empty: a discrete distribution (pixels k/16) would lose its zeros and all its shape.
  std::vector<double> h = histogram;
  if (h[1] > 0) h[0] = std::min(h[0], h[1]);
  std::vector<double> suffix(static_cast<size_t>(bins) + 1, 0.0);  // mass at and beyond each bin
  for (int k = bins - 1; k >= 0; --k) suffix[k] = suffix[k + 1] + h[k];
  double best = INFINITY;
  int bestBins = bins;
  std::vector<double> p, q;
  for (int i = kQuantizedLevels; i <= bins; ++i) {
    p.assign(h.begin(), h.begin() + i);
    p[i - 1] += suffix[i];  // clipped values land in the last kept bin
    // Q: the first i bins merged into 128 levels, each level's mass spread evenly over its non-empty bins.
    q.assign(static_cast<size_t>(i), 0.0);
    for (int level = 0; level < kQuantizedLevels; ++level) {
      const int begin = static_cast<int>(static_cast<int64_t>(level) * i / kQuantizedLevels);
      const int end = level + 1 == kQuantizedLevels ? i : static_cast<int>(static_cast<int64_t>(level + 1) * i / kQuantizedLevels);
      double mass = 0;
      int used = 0;
      for (int k = begin; k < end; ++k) {
        mass += h[k];
        used += h[k] != 0;
      }
      if (used == 0) continue;
      for (int k = begin; k < end; ++k)
        if (h[k] != 0) q[k] = mass / used;
    }
    const double kl = klDivergence(p, q);
    if (kl < best) {
      best = kl;
      bestBins = i;
    }
  }
  return (bestBins + 0.5) * binWidth;
}

double thresholdFromHistogram(const std::vector<double>& histogram, double binWidth, CalibrationMethod method,
                              double percentile) {
  double total = 0;
  int lastUsed = -1;
  for (size_t k = 0; k < histogram.size(); ++k) {
    total += histogram[k];
    if (histogram[k] > 0) lastUsed = static_cast<int>(k);
  }
  if (total <= 0) return 0;
  switch (method) {
    case CalibrationMethod::kMinMax: return (lastUsed + 1) * binWidth;
    case CalibrationMethod::kPercentile: {
      const double wanted = std::clamp(percentile, 0.0, 100.0) / 100.0 * total;
      double seen = 0;
      for (size_t k = 0; k < histogram.size(); ++k) {
        seen += histogram[k];
        if (seen >= wanted) return static_cast<double>(k + 1) * binWidth;
      }
      return (lastUsed + 1) * binWidth;
    }
    case CalibrationMethod::kEntropy: return entropyThreshold(histogram, binWidth);
  }
  return (lastUsed + 1) * binWidth;
}

float scaleForRange(double amax) { return amax > 0 ? static_cast<float>(amax / 127.0) : 1.f; }

const char* calibrationMethodName(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kEntropy: return "entropy";
    case CalibrationMethod::kMinMax: return "minmax";
    case CalibrationMethod::kPercentile: return "percentile";
  }
  return "entropy";
}

Expected<ScaleTable> calibrateActivations(const ir::Graph& graph, const std::vector<OptimizationProfile>& profiles,
                                          const BuilderConfig& config,
                                          const std::map<std::string, std::string>& buildFacts) {
  if (config.calibrationData.empty())
    return invalidArgument("INT8 build: no calibration data (--calib=input:DIR) and no calibration cache to read");
  // Batch k of every input: the k-th .npy file of its folder.
  std::map<std::string, std::vector<std::string>> files;
  size_t batches = 0;
  for (const auto& [name, dir] : config.calibrationData) {
    const ir::ValueId id = graph.findValue(name);
    if (id < 0 || std::find(graph.inputs.begin(), graph.inputs.end(), id) == graph.inputs.end())
      return invalidArgument("--calib names '" + name + "', which is not an input of the model");
    KILN_ASSIGN_OR_RETURN(files[name], calibrationBatchFiles(name, dir));
    if (batches && files[name].size() != batches)
      return invalidArgument("calibration data: input '" + name + "' has " + std::to_string(files[name].size()) +
                             " .npy batches, another input has " + std::to_string(batches));
    batches = files[name].size();
  }
  for (ir::ValueId in : graph.inputs)
    if (!graph.isConstant(in) && !files.count(graph.values[in].name))
      return invalidArgument("calibration data: input '" + graph.values[in].name + "' has no --calib folder");

  const std::vector<ir::ValueId> probes = quantizedActivations(graph);
  ScaleTable scales;
  if (probes.empty()) return scales;
  // The float32 graph with the quantized activations as extra outputs, strict FP32 like the guard's reference,
  // loaded once for every batch.
  std::vector<ir::ValueId> outputs = graph.outputs;
  for (ir::ValueId v : probes)
    if (std::find(outputs.begin(), outputs.end(), v) == outputs.end()) outputs.push_back(v);
  KILN_ASSIGN_OR_RETURN(auto engine, makeProbeEngine(graph, outputs, {}, profiles, config.device, buildFacts, "fp32"));
  KILN_ASSIGN_OR_RETURN(auto context, engine->createContext(0));
  const auto runBatch = [&](size_t k) -> Expected<std::map<std::string, Tensor>> {
    std::map<std::string, Tensor> inputs;
    for (const auto& [name, list] : files) {
      KILN_ASSIGN_OR_RETURN(inputs[name], readNpyFile(list[k]));
    }
    auto out = context->infer(inputs);
    if (!out) return out.status().withContext("calibration batch " + std::to_string(k + 1) + " (" + files.begin()->second[k] + ")");
    return out;
  };

  // Pass 1: each tensor's largest |x| (min-max needs nothing else); pass 2: histograms over [0, that].
  std::vector<double> amax(probes.size(), 0.0);
  for (size_t k = 0; k < batches; ++k) {
    KILN_ASSIGN_OR_RETURN(auto out, runBatch(k));
    for (size_t p = 0; p < probes.size(); ++p) amax[p] = std::max(amax[p], maxAbs(out.at(graph.values[probes[p]].name)));
  }
  std::vector<double> threshold = amax;
  if (config.calibrationMethod != CalibrationMethod::kMinMax) {
    std::vector<std::vector<double>> histograms(probes.size(), std::vector<double>(kCalibrationBins, 0.0));
    for (size_t k = 0; k < batches; ++k) {
      KILN_ASSIGN_OR_RETURN(auto out, runBatch(k));
      for (size_t p = 0; p < probes.size(); ++p)
        if (amax[p] > 0) addToHistogram(out.at(graph.values[probes[p]].name), amax[p] / kCalibrationBins, histograms[p]);
    }
    for (size_t p = 0; p < probes.size(); ++p)
      if (amax[p] > 0)
        threshold[p] = std::min(amax[p], thresholdFromHistogram(histograms[p], amax[p] / kCalibrationBins,
                                                                config.calibrationMethod, config.calibrationPercentile));
  }
  for (size_t p = 0; p < probes.size(); ++p) {
    scales[graph.values[probes[p]].name] = scaleForRange(threshold[p]);
    if (config.verbose)
      std::fprintf(stderr, "[kiln] calibration: '%s' max |x| %.4g, %s range %.4g\n", graph.values[probes[p]].name.c_str(),
                   amax[p], calibrationMethodName(config.calibrationMethod), threshold[p]);
  }
  return scales;
}

Expected<ScaleTable> readCalibrationCache(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ioError("calibration cache '" + path + "': cannot open it");
  std::string line;
  if (!std::getline(in, line) || line.rfind("# kiln calibration cache 1", 0) != 0)
    return invalidArgument("calibration cache '" + path + "': the first line must be '# kiln calibration cache 1 ...'");
  ScaleTable scales;
  int number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    // The name is everything before the last space (ONNX names may hold spaces); the scale is after it.
    const size_t space = line.find_last_of(' ');
    const std::string where = "calibration cache '" + path + "' line " + std::to_string(number) + ": ";
    if (space == std::string::npos || space == 0) return invalidArgument(where + "expected 'name scale'");
    char* end = nullptr;
    const std::string numberText = line.substr(space + 1);
    const float scale = std::strtof(numberText.c_str(), &end);
    if (end == numberText.c_str() || *end != '\0' || !std::isfinite(scale) || scale <= 0)
      return invalidArgument(where + "the scale '" + numberText + "' must be a positive finite number");
    scales[line.substr(0, space)] = scale;
  }
  return scales;
}

Status writeCalibrationCache(const std::string& path, const ScaleTable& scales, const std::string& methodName) {
  std::ostringstream text;
  text << "# kiln calibration cache 1 method=" << methodName << " (docs/calibration-cache.md)\n";
  for (const auto& [name, scale] : scales) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", scale);  // 9 significant digits: every float32 round-trips
    text << name << ' ' << buf << '\n';
  }
  std::ofstream out(path, std::ios::trunc);
  out << text.str();
  out.close();
  if (!out) return ioError("calibration cache '" + path + "': cannot write it");
  return Status::ok();
}

Status prepareInt8(ir::Graph& graph, const std::vector<OptimizationProfile>& profiles, const BuilderConfig& config,
                   const std::map<std::string, std::string>& buildFacts) {
  if (const int qdq = passes::countQdqNodes(graph)) {
    std::fprintf(stderr, "[kiln] int8: the model has %d QuantizeLinear/DequantizeLinear nodes; they run as they are "
                         "(no calibration)\n", qdq);
    return Status::ok();
  }
  ScaleTable scales;
  std::error_code ec;
  const bool fromCache = !config.calibrationCachePath.empty() && std::filesystem::exists(config.calibrationCachePath, ec);
  if (fromCache) {
    KILN_ASSIGN_OR_RETURN(scales, readCalibrationCache(config.calibrationCachePath));
  } else {
    KILN_ASSIGN_OR_RETURN(scales, calibrateActivations(graph, profiles, config, buildFacts));
    if (!config.calibrationCachePath.empty())
      KILN_RETURN_IF_ERROR(writeCalibrationCache(config.calibrationCachePath, scales,
                                                 calibrationMethodName(config.calibrationMethod)));
  }
  KILN_ASSIGN_OR_RETURN(auto counts, passes::insertQuantization(graph, scales));
  std::fprintf(stderr,
               "[kiln] int8: %d activations (%s) and %d weights (per channel) quantized; INT8 is simulated (Q/DQ in "
               "float) until kiln has INT8 kernels: the numerics are INT8's, the speed is not\n",
               counts.activations,
               fromCache ? ("scales from cache '" + config.calibrationCachePath + "'").c_str()
                         : (std::string(calibrationMethodName(config.calibrationMethod)) + " calibration").c_str(),
               counts.weights);
  if (counts.withoutScale)
    std::fprintf(stderr, "[kiln] int8: %d activations have no scale in the calibration cache and stay float\n",
                 counts.withoutScale);
  return Status::ok();
}

}  // namespace kiln::builder

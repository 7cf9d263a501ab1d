#include "builder/accuracy_guard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/half.h"
#include "core/npy.h"
#include "core/tensor_values.h"
#include "builder/calibration.h"
#include "builder/probe_engine.h"
#include "kiln/runtime.h"
#include "runtime/shape_program.h"

namespace kiln::builder {
namespace {

/// The FP32 run keeps every float layer's output on the host; batches shrink until that fits.
constexpr double kProbeBudgetBytes = 1.0 * (1u << 30);

ValueAgreement compare(const Tensor& ref, const Tensor& got) {
  ValueAgreement a;
  const int64_t n = std::min(ref.elementCount(), got.elementCount());
  double dot = 0, rr = 0, gg = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double r = floatElementAsDouble(ref, i), g = floatElementAsDouble(got, i);
    if (!std::isfinite(r)) {
      a.refFinite = false;
      continue;
    }
    if (!std::isfinite(g)) {
      a.mixedFinite = false;
      continue;
    }
    a.refMaxAbs = std::max(a.refMaxAbs, std::fabs(r));
    a.maxAbsDiff = std::max(a.maxAbsDiff, std::fabs(g - r));
    dot += r * g;
    rr += r * r;
    gg += g * g;
  }
  a.cosine = rr > 0 && gg > 0 ? dot / std::sqrt(rr * gg) : (rr == gg ? 1.0 : 0.0);
  if (ref.elementCount() != got.elementCount()) a.mixedFinite = false;  // never the case: same graph shapes
  return a;
}

std::string fmt(const char* format, double a, double b = 0, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, format, a, b, c);
  return buf;
}

/// Builds, loads and runs `graph` with `outputs` as its outputs, returning them by name.
Expected<std::map<std::string, Tensor>> runWithOutputs(ir::Graph graph, const std::vector<ir::ValueId>& outputs,
                                                       std::vector<std::string> tactics,
                                                       const std::vector<OptimizationProfile>& profiles,
                                                       DeviceKind device, std::map<std::string, std::string> facts,
                                                       const std::string& precisions,
                                                       const std::map<std::string, Tensor>& inputs) {
  KILN_ASSIGN_OR_RETURN(auto engine, makeProbeEngine(std::move(graph), outputs, std::move(tactics), profiles, device,
                                                     std::move(facts), precisions));
  KILN_ASSIGN_OR_RETURN(auto context, engine->createContext(0));
  return context->infer(inputs);
}

/// An integer input read as Gather indices into a constant table of `rows` rows takes values in [0, rows); others
/// (masks, flags) 0 or 1.
int64_t indexRange(const ir::Graph& graph, ir::ValueId input) {
  int64_t rows = 2;
  for (int32_t c : graph.consumers(input)) {
    const ir::Node& n = graph.nodes[static_cast<size_t>(c)];
    if (n.op != ir::OpKind::kGather || n.inputs.size() < 2 || n.inputs[1] != input) continue;
    const Tensor* table = graph.constantOf(n.inputs[0]);
    if (!table || table->rank() == 0) continue;
    int64_t axis = n.attrs.getInt("axis", 0);
    if (axis < 0) axis += table->rank();
    if (axis >= 0 && axis < table->rank()) rows = std::max<int64_t>(rows, table->dims()[static_cast<size_t>(axis)]);
  }
  return rows;
}

Expected<Tensor> randomInput(DataType type, const Dims& dims, int64_t indexRows, std::mt19937& rng) {
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(type, dims));
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    switch (type) {
      case DataType::kFloat32: t.dataAs<float>()[i] = normal(rng); break;
      case DataType::kFloat16: t.dataAs<uint16_t>()[i] = floatToHalfBits(normal(rng)); break;
      case DataType::kFloat64: t.dataAs<double>()[i] = normal(rng); break;
      case DataType::kInt64: t.dataAs<int64_t>()[i] = static_cast<int64_t>(rng() % indexRows); break;
      case DataType::kInt32: t.dataAs<int32_t>()[i] = static_cast<int32_t>(rng() % indexRows); break;
      case DataType::kBool: t.dataAs<bool>()[i] = rng() % 2; break;
      default: return unsupported(std::string("accuracy guard: no random data for inputs of type ") + dataTypeName(type) +
                                  "; give --calibData for it or turn the guard off");
    }
  }
  return t;
}

/// The first .npy file (by name) in `dir`.
Expected<Tensor> calibrationBatch(const std::string& input, const std::string& dir) {
  KILN_ASSIGN_OR_RETURN(auto files, calibrationBatchFiles(input, dir));
  return readNpyFile(files.front());
}

/// The largest relative error over `n`'s probed float data inputs, and whether they are all finite.
std::pair<double, bool> inputError(const ir::Graph& g, const ir::Node& n,
                                   const std::map<ir::ValueId, ValueAgreement>& agree) {
  double err = 0;
  bool finite = true;
  for (size_t s = 0; s < n.inputs.size(); ++s) {
    if (!passes::isFloatDataSlot(g, n, s)) continue;
    if (auto it = agree.find(n.inputs[s]); it != agree.end()) {
      err = std::max(err, it->second.relative());
      finite = finite && it->second.mixedFinite;
    }
  }
  return {err, finite};
}

}  // namespace

GuardTolerance GuardTolerance::forType(DataType low) {
  // Unit roundoff: 2^-11 for float16, 2^-8 for bfloat16; a layer may add ~16 of them before it counts as breaking.
  const double eps = low == DataType::kFloat16 ? 0x1p-11 : 0x1p-8;
  const double range = low == DataType::kFloat16 ? 65504.0 / 2 : 1e38;
  // Outputs get half the acceptance bound (2e-2 of scale, cosine 0.999) as margin for inputs the guard did not see:
  // with 3/4 of it (1.5e-2) a BF16 EfficientNet-B0 passed the guard and then missed 2e-2 on other inputs (2.35e-2).
  return {.outputRelative = 1e-2, .outputCosine = 0.9995, .layerRelative = 16 * eps, .range = range,
          .unitRoundoff = eps};
}

Expected<std::unique_ptr<AccuracyGuard>> AccuracyGuard::create(const ir::Graph& base,
                                                               const std::vector<OptimizationProfile>& profiles,
                                                               DeviceKind device, const BuilderConfig& config,
                                                               const std::map<std::string, std::string>& buildFacts) {
  std::unique_ptr<AccuracyGuard> guard(new AccuracyGuard());
  guard->base_ = &base;
  guard->profiles_ = profiles;
  guard->device_ = device;
  guard->facts_ = buildFacts;
  guard->verbose_ = config.verbose;
  guard->tolerance_ = GuardTolerance::forType(config.allows(Precision::kFP16) ? DataType::kFloat16 : DataType::kBFloat16);

  const runtime::ShapeProgram program = runtime::analyzeShapeProgram(base);
  for (size_t i = 0; i < base.nodes.size(); ++i) {
    if (program.hostNode[i]) continue;
    for (ir::ValueId out : base.nodes[i].outputs)
      if (base.values[out].dtype == DataType::kFloat32 &&
          std::find(base.inputs.begin(), base.inputs.end(), out) == base.inputs.end())
        guard->probes_.push_back(out);
  }
  // Inputs: calibration batches where given; random ones at the opt shapes, the batch (dim 0 where the profile
  // varies it) reduced until the probes fit the budget.
  const OptimizationProfile& profile = profiles.front();
  std::map<ir::ValueId, Dims> dims;
  for (const auto& range : profile.inputs) dims[base.findValue(range.name)] = range.opt;
  KILN_ASSIGN_OR_RETURN(auto shapes, runtime::resolveShapes(base, program, dims));
  double bytes = 0;
  for (ir::ValueId v : guard->probes_) bytes += 4.0 * static_cast<double>(kiln::elementCount(shapes.dims[v]));
  const double shrink = bytes > kProbeBudgetBytes ? kProbeBudgetBytes / bytes : 1.0;
  std::mt19937 rng(20261202);
  for (const auto& range : profile.inputs) {
    const ir::ValueId id = base.findValue(range.name);
    Dims d = range.opt;
    if (!d.empty() && range.min[0] < range.opt[0] && shrink < 1.0)
      d[0] = std::max<int64_t>(range.min[0], static_cast<int64_t>(static_cast<double>(d[0]) * shrink));
    if (auto dir = config.calibrationData.find(range.name); dir != config.calibrationData.end()) {
      KILN_ASSIGN_OR_RETURN(Tensor t, calibrationBatch(range.name, dir->second));
      guard->inputs_[range.name] = std::move(t);
    } else {
      KILN_ASSIGN_OR_RETURN(Tensor t, randomInput(base.values[id].dtype, d, indexRange(base, id), rng));
      guard->inputs_[range.name] = std::move(t);
    }
    guard->shapesText_ += (guard->shapesText_.empty() ? "" : ",") + range.name + ":" +
                          dimsToString(guard->inputs_[range.name].dims());
  }
  for (const auto& [name, dir] : config.calibrationData)
    if (!guard->inputs_.count(name))
      return invalidArgument("--calibData names '" + name + "', which is not an input of the model");

  // The reference: every layer in FP32 without TF32; where a layer has no strict-FP32 kernel, with TF32.
  std::vector<ir::ValueId> outputs = base.outputs;
  for (ir::ValueId v : guard->probes_)
    if (std::find(outputs.begin(), outputs.end(), v) == outputs.end()) outputs.push_back(v);
  auto ref = runWithOutputs(base, outputs, {}, profiles, device, buildFacts, "fp32", guard->inputs_);
  if (!ref) {
    std::fprintf(stderr, "[kiln] accuracy guard: no strict-FP32 reference (%s); comparing against FP32 with TF32\n",
                 ref.status().message().c_str());
    ref = runWithOutputs(base, outputs, {}, profiles, device, buildFacts, "fp32,tf32", guard->inputs_);
  }
  if (!ref) return ref.status().withContext("accuracy guard: running the FP32 reference");
  for (ir::ValueId v : outputs) guard->reference_[v] = (*ref)[base.values[v].name];
  return guard;
}

void AccuracyGuard::keepOutOfRange(PrecisionPlan& plan) const {
  const ir::Graph& g = *base_;
  const auto maxAbs = [&](ir::ValueId v) {
    auto it = reference_.find(v);
    double m = 0;
    if (it != reference_.end())
      for (int64_t i = 0; i < it->second.elementCount(); ++i) m = std::max(m, std::fabs(floatElementAsDouble(it->second, i)));
    return m;
  };
  std::map<ir::ValueId, double> peak;
  for (const auto& [v, t] : reference_) peak[v] = maxAbs(v);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!plan.narrow[i] || plan.pinnedNarrow[i]) continue;
    const ir::Node& n = g.nodes[i];
    for (ir::ValueId out : n.outputs)
      if (peak.count(out) && peak[out] > tolerance_.range)
        plan.keepFloat32(i, fmt("its output reaches %.3g, beyond the narrow type's range", peak[out]));
    for (size_t s = 0; s < n.inputs.size(); ++s)
      if (plan.narrow[i] && passes::isFloatDataSlot(g, n, s) && peak.count(n.inputs[s]) &&
          peak[n.inputs[s]] > tolerance_.range)
        plan.keepFloat32(i, fmt("it reads values up to %.3g, beyond the narrow type's range", peak[n.inputs[s]]));
  }
}

Expected<bool> AccuracyGuard::checkAndPromote(const passes::MixedGraph& mixed, const std::vector<std::string>& tactics,
                                              PrecisionPlan& plan) {
  const ir::Graph& g = *base_;
  std::vector<ir::ValueId> outputs = mixed.graph.outputs;
  for (ir::ValueId v : probes_)
    if (std::find(outputs.begin(), outputs.end(), v) == outputs.end()) outputs.push_back(v);
  const std::string precisions = facts_.count("build.precisions") ? facts_.at("build.precisions") : "fp32,fp16";
  KILN_ASSIGN_OR_RETURN(auto got, runWithOutputs(mixed.graph, outputs, tactics, profiles_, device_, facts_, precisions,
                                                 inputs_));
  std::map<ir::ValueId, ValueAgreement> agree;
  for (const auto& [v, ref] : reference_) {
    auto it = got.find(g.values[v].name);
    if (it != got.end()) agree[v] = compare(ref, it->second);
  }

  if (verbose_) {
    // The ten values that disagree most, and any the reference itself has NaN/Inf in.
    std::vector<std::pair<double, ir::ValueId>> worst;
    for (const auto& [v, a] : agree) {
      if (!a.refFinite) std::fprintf(stderr, "[kiln] guard: the FP32 reference has NaN/Inf in '%s'\n", g.values[v].name.c_str());
      worst.emplace_back(a.mixedFinite ? a.relative() : INFINITY, v);
    }
    std::sort(worst.rbegin(), worst.rend());
    for (size_t k = 0; k < worst.size() && k < 10; ++k) {
      const ValueAgreement& a = agree[worst[k].second];
      std::fprintf(stderr, "[kiln] guard: '%s' err %.3g of max|ref| %.3g, cosine %.6f%s\n",
                   g.values[worst[k].second].name.c_str(), a.relative(), a.refMaxAbs, a.cosine,
                   a.mixedFinite ? "" : " (NaN/Inf)");
    }
  }
  // Graph outputs first: when they agree, the engine is done.
  bool ok = true;
  outputSummary_.clear();
  for (ir::ValueId out : g.outputs) {
    if (!agree.count(out)) continue;
    const ValueAgreement& a = agree[out];
    const bool good = a.mixedFinite && a.relative() <= tolerance_.outputRelative && a.cosine >= tolerance_.outputCosine;
    ok = ok && good;
    outputSummary_ += "  output '" + g.values[out].name + "': max abs err " + fmt("%.3g", a.maxAbsDiff) +
                      " (" + fmt("%.3g", a.relative()) + " of max|ref| " + fmt("%.3g", a.refMaxAbs) + "), cosine " +
                      fmt("%.6f", a.cosine) + (good ? "" : "  (outside tolerance)") + "\n";
  }
  if (ok) return true;

  // Where the error starts: a narrow layer that makes NaN/Inf from finite inputs, or whose relative error passes the
  // layer tolerance and is several times its inputs' error.
  int promoted = 0;
  std::vector<std::pair<double, size_t>> growth;  // for the fallback: error a layer adds, node
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!plan.floatLayer[i] || plan.pinnedNarrow[i]) continue;
    const ir::Node& n = g.nodes[i];
    if (!plan.narrow[i]) {
      promoted += keepProducersOfAmplifier(i, agree, plan);
      continue;
    }
    const auto [inErr, inFinite] = inputError(g, n, agree);
    for (ir::ValueId out : n.outputs) {
      auto it = agree.find(out);
      if (it == agree.end() || !it->second.refFinite) continue;
      const ValueAgreement& a = it->second;
      if (!a.mixedFinite && inFinite) {
        plan.keepFloat32(i, "the narrow type gives NaN/Inf here on finite inputs");
        ++promoted;
        break;
      }
      if (!a.mixedFinite) continue;
      const double err = a.relative();
      if (err > tolerance_.layerRelative && err > 4 * inErr) {
        plan.keepFloat32(i, "the narrow type's error starts here: " + fmt("%.3g", err) + " of the output's scale (" +
                                fmt("%.3g", inErr) + " at its inputs)");
        ++promoted;
        break;
      }
      if (err > inErr) growth.emplace_back(err - inErr, i);
    }
  }
  if (promoted == 0 && !growth.empty()) {
    // No single culprit: error accumulates. Keep in FP32 the sixteenth of the narrow layers that grow it the most.
    std::sort(growth.rbegin(), growth.rend());
    const size_t take = std::max<size_t>(1, plan.narrowCount() / 16);
    for (size_t k = 0; k < growth.size() && static_cast<size_t>(promoted) < take; ++k)
      if (plan.narrow[growth[k].second]) {
        plan.keepFloat32(growth[k].second, "the outputs disagreed and this layer adds the most error (" +
                                               fmt("%.3g", growth[k].first) + " of its output's scale)");
        ++promoted;
      }
  }
  // With nothing promoted (all narrow layers pinned under obey), the caller sees no progress and reports it.
  return false;
}

int AccuracyGuard::keepProducersOfAmplifier(size_t i, const std::map<ir::ValueId, ValueAgreement>& agree,
                                           PrecisionPlan& plan) const {
  // An FP32 layer whose error is many times its inputs' is ill-conditioned (e.g. a conv whose folded BatchNorm scale
  // is huge and cancels against its bias): it amplifies the narrow rounding of its inputs, so they must be FP32 too.
  const ir::Graph& g = *base_;
  const ir::Node& n = g.nodes[i];
  const double inErr = inputError(g, n, agree).first;
  double err = 0;
  for (ir::ValueId out : n.outputs)
    if (auto it = agree.find(out); it != agree.end() && it->second.mixedFinite) err = std::max(err, it->second.relative());
  if (!(err > tolerance_.layerRelative && err > 16 * inErr)) return 0;
  int promoted = 0;
  for (size_t s = 0; s < n.inputs.size(); ++s) {
    if (!passes::isFloatDataSlot(g, n, s)) continue;
    const int32_t producer = g.values[n.inputs[s]].producer;
    if (producer < 0 || !plan.narrow[static_cast<size_t>(producer)] || plan.pinnedNarrow[static_cast<size_t>(producer)])
      continue;
    plan.keepFloat32(static_cast<size_t>(producer), "it feeds " + n.name + ", which amplifies the narrow type's rounding of "
                                                    "its input " + fmt("%.3g", err / std::max(inErr, 1e-12)) + "x");
    ++promoted;
  }
  return promoted;
}

}  // namespace kiln::builder

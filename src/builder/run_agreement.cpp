#include "builder/run_agreement.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "core/half.h"
#include "kiln/runtime.h"

namespace kiln::builder {
namespace {

double valueAt(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.dataAs<float>()[i];
    case DataType::kFloat16: return halfBitsToFloat(t.dataAs<uint16_t>()[i]);
    case DataType::kBFloat16: return bfloat16BitsToFloat(t.dataAs<uint16_t>()[i]);
    default: return 0;
  }
}

bool isFloat(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16; }

/// max |later - first| / max |first| over the elements (NaN where one side is NaN and the other is not).
double relativeDifference(const Tensor& first, const Tensor& later) {
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < first.elementCount(); ++i) {
    const double a = valueAt(first, i), b = valueAt(later, i);
    if (std::isnan(a) != std::isnan(b)) return NAN;
    if (std::isnan(a)) continue;
    scale = std::max(scale, std::fabs(a));
    diff = std::max(diff, std::fabs(a - b));
  }
  return scale > 0 ? diff / scale : (diff > 0 ? INFINITY : 0);
}

Expected<Tensor> randomInput(DataType dtype, const Dims& dims, std::mt19937& rng) {
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, dims));
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    const float v = dist(rng);
    if (dtype == DataType::kFloat32) t.dataAs<float>()[i] = v;
    else if (dtype == DataType::kFloat16) t.dataAs<uint16_t>()[i] = floatToHalfBits(v);
    else t.dataAs<uint16_t>()[i] = floatToBfloat16Bits(v);
  }
  return t;
}

}  // namespace

Expected<std::string> findRunToRunDisagreement(const std::vector<std::byte>& engineBytes) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, Engine::loadFromMemory(engineBytes.data(), engineBytes.size()));
  for (const TensorDesc& in : engine->inputs())
    if (!isFloat(in.dtype)) return std::string();
  const OptimizationProfile& profile = engine->profile(0);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine->createContext(0));
  std::mt19937 rng(20261202);
  for (const bool atMax : {false, true}) {
    std::map<std::string, Tensor> inputs;
    std::string shapes;
    for (const TensorDesc& in : engine->inputs()) {
      Dims dims = in.dims;  // static inputs; the profile gives the dynamic ones
      for (const InputShapeRange& range : profile.inputs)
        if (range.name == in.name) dims = atMax ? range.max : range.opt;
      KILN_ASSIGN_OR_RETURN(inputs[in.name], randomInput(in.dtype, dims, rng));
      shapes += (shapes.empty() ? "" : ",") + in.name + ":" + dimsToString(dims);
    }
    // The first run after a shape change runs plainly, the second captures a CUDA graph, the third replays it.
    KILN_ASSIGN_OR_RETURN(auto first, context->infer(inputs));
    for (int run = 2; run <= 3; ++run) {
      KILN_ASSIGN_OR_RETURN(auto later, context->infer(inputs));
      for (const auto& [name, a] : first) {
        if (!isFloat(a.dtype()) || !later.count(name) || later.at(name).dims() != a.dims()) continue;
        const double d = relativeDifference(a, later.at(name));
        if (!(d <= 1e-3))
          return "at " + shapes + ", run " + std::to_string(run) + " of the same inputs differs from run 1 in output '" +
                 name + "' by " + std::to_string(d) + " of its scale";
      }
    }
  }
  return std::string();
}

}  // namespace kiln::builder

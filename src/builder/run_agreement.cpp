#include "builder/run_agreement.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "core/half.h"
#include "core/tensor_values.h"
#include "engine/engine_file.h"
#include "ir/attributes.h"
#include "kiln/runtime.h"

namespace kiln::builder {
namespace {

/// max |later - first| / max |first| over the elements (NaN where one side is NaN and the other is not).
double relativeDifference(const Tensor& first, const Tensor& later) {
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < first.elementCount(); ++i) {
    const double a = floatElementAsDouble(first, i), b = floatElementAsDouble(later, i);
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
    else if (dtype == DataType::kFloat64) t.dataAs<double>()[i] = v;
    else if (dtype == DataType::kFloat16) t.dataAs<uint16_t>()[i] = floatToHalfBits(v);
    else t.dataAs<uint16_t>()[i] = floatToBfloat16Bits(v);
  }
  return t;
}

/// The profile's shapes the check runs at: opt, max, min, and an odd one between opt and max (a batch that no
/// tactic was timed at), without repeats.
std::vector<std::map<std::string, Dims>> shapesToCheck(const Engine& engine) {
  const OptimizationProfile& profile = engine.profile(0);
  std::vector<std::map<std::string, Dims>> sets(4);
  for (const TensorDesc& in : engine.inputs()) {
    Dims opt = in.dims, max = in.dims, min = in.dims;  // static inputs; the profile gives the dynamic ones
    for (const InputShapeRange& range : profile.inputs)
      if (range.name == in.name) opt = range.opt, max = range.max, min = range.min;
    Dims between = opt;
    for (size_t d = 0; d < between.size(); ++d) {
      if (max[d] <= opt[d] + 1) continue;
      between[d] = (opt[d] + max[d]) / 2;
      if (between[d] % 2 == 0) ++between[d];
    }
    sets[0][in.name] = opt, sets[1][in.name] = max, sets[2][in.name] = min, sets[3][in.name] = between;
  }
  std::vector<std::map<std::string, Dims>> distinct;
  for (auto& set : sets)
    if (std::find(distinct.begin(), distinct.end(), set) == distinct.end()) distinct.push_back(std::move(set));
  return distinct;
}

/// Graph nodes before which a fence closes the race shown by `inputs`, with a description of each boundary; empty
/// when no single boundary reproduces it (or the engine cannot be searched).
Expected<std::vector<std::pair<size_t, std::string>>> racingNodes(const std::vector<std::byte>& engineBytes,
                                                                  const std::map<std::string, Tensor>& inputs) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, Engine::loadFromMemory(engineBytes.data(), engineBytes.size()));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine->createContext(0));
  auto search = context->findRacingBoundaries(inputs, /*repeats=*/3);
  std::vector<std::pair<size_t, std::string>> nodes;
  if (!search.hasValue()) {
    if (search.status().code() == StatusCode::kUnsupported) return nodes;  // data-dependent shapes
    return search.status();
  }
  for (const auto& b : search->boundaries) nodes.emplace_back(b.afterNode, "'" + b.after + "' after '" + b.before + "'");
  return nodes;
}

}  // namespace

Expected<std::optional<RunDisagreement>> findRunToRunDisagreement(const std::vector<std::byte>& engineBytes) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, Engine::loadFromMemory(engineBytes.data(), engineBytes.size()));
  for (const TensorDesc& in : engine->inputs())
    if (!isFloatType(in.dtype)) return std::optional<RunDisagreement>();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine->createContext(0));
  std::mt19937 rng(20261202);
  for (const auto& dims : shapesToCheck(*engine)) {
    std::map<std::string, Tensor> inputs;
    std::string shapes;
    for (const TensorDesc& in : engine->inputs()) {
      KILN_ASSIGN_OR_RETURN(inputs[in.name], randomInput(in.dtype, dims.at(in.name), rng));
      shapes += (shapes.empty() ? "" : ",") + in.name + ":" + dimsToString(dims.at(in.name));
    }
    // The first run after a shape change runs plainly, the second captures a CUDA graph, the third replays it.
    KILN_ASSIGN_OR_RETURN(auto first, context->infer(inputs));
    for (int run = 2; run <= 3; ++run) {
      KILN_ASSIGN_OR_RETURN(auto later, context->infer(inputs));
      for (const auto& [name, a] : first) {
        if (!isFloatType(a.dtype()) || !later.count(name) || later.at(name).dims() != a.dims()) continue;
        const double d = relativeDifference(a, later.at(name));
        if (!(d <= 1e-3))
          return std::optional<RunDisagreement>(RunDisagreement{
              "at " + shapes + ", run " + std::to_string(run) + " of the same inputs differs from run 1 in output '" +
                  name + "' by " + std::to_string(d) + " of its scale",
              std::move(inputs)});
      }
    }
  }
  return std::optional<RunDisagreement>();
}

Expected<std::vector<std::byte>> withFencesBefore(const std::vector<std::byte>& engineBytes,
                                                  const std::vector<size_t>& nodes) {
  KILN_ASSIGN_OR_RETURN(engine::EngineModel model, engine::readEngine(engineBytes.data(), engineBytes.size()));
  for (size_t n : nodes) {
    if (n >= model.graph.nodes.size())
      return internalError("withFencesBefore: node " + std::to_string(n) + " of a graph of " +
                           std::to_string(model.graph.nodes.size()));
    model.graph.nodes[n].attrs.set(ir::kFenceBeforeAttribute, int64_t{1});
  }
  return engine::writeEngine(model);
}

Expected<RunAgreement> makeRunsAgree(std::vector<std::byte> engineBytes) {
  constexpr int kSearchRounds = 3;
  RunAgreement result;
  std::set<size_t> fenced;
  bool everyLayer = false;
  for (int round = 0;; ++round) {
    KILN_ASSIGN_OR_RETURN(std::optional<RunDisagreement> found, findRunToRunDisagreement(engineBytes));
    if (!found || everyLayer) {
      if (found) result.disagreement = found->description;
      result.engine = std::move(engineBytes);
      return result;
    }
    std::vector<size_t> next;
    if (round < kSearchRounds) {
      KILN_ASSIGN_OR_RETURN(auto racing, racingNodes(engineBytes, found->inputs));
      for (auto& [node, text] : racing)
        if (fenced.insert(node).second) {
          next.push_back(node);
          result.fencedLayers.push_back(std::move(text));
        }
    }
    if (next.empty()) {  // no single boundary reproduces it, or fencing those did not help: fence every layer
      everyLayer = true;
      KILN_ASSIGN_OR_RETURN(engine::EngineModel model, engine::readEngine(engineBytes.data(), engineBytes.size()));
      for (size_t n = 0; n < model.graph.nodes.size(); ++n) next.push_back(n);
      result.fencedLayers.push_back("every layer (" + found->description + ")");
    }
    KILN_ASSIGN_OR_RETURN(engineBytes, withFencesBefore(engineBytes, next));
  }
}

}  // namespace kiln::builder

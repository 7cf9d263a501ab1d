// ExecutionContext::findRacingBoundaries: which two adjacent layers race. A plain run puts every layer on one stream
// with nothing between them; a library kernel that starts before its predecessor has finished (or writes memory its
// predecessor still reads) then gives an answer that changes from run to run, while any run that synchronizes
// between layers (traceLayers, the builder's per-layer checks) is right. The reference run synchronizes after every
// layer; the trial runs put a stream fence (Backend::fence, what the builder then keeps in the engine) at every
// boundary but one, one boundary at a time, and so name the pair.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/tensor_values.h"
#include "runtime/engine_state.h"

namespace kiln {
namespace {

/// max |got - want| / max |want| over the float outputs (bytes must match for the others; INFINITY when not).
double relativeError(const std::vector<Tensor>& want, const std::vector<Tensor>& got) {
  double worst = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const Tensor& a = want[k];
    const Tensor& b = got[k];
    if (!isFloatType(a.dtype())) {
      if (std::memcmp(a.data(), b.data(), a.byteSize()) != 0) return INFINITY;
      continue;
    }
    double scale = 0, diff = 0;
    for (int64_t i = 0; i < a.elementCount(); ++i) {
      const double x = floatElementAsDouble(a, i), y = floatElementAsDouble(b, i);
      if (std::isnan(x) != std::isnan(y)) return INFINITY;
      if (std::isnan(x)) continue;
      scale = std::max(scale, std::fabs(x));
      diff = std::max(diff, std::fabs(x - y));
    }
    worst = std::max(worst, scale > 0 ? diff / scale : (diff > 0 ? INFINITY : 0));
  }
  return worst;
}

}  // namespace

Expected<ExecutionContext::RaceSearch> ExecutionContext::findRacingBoundaries(
    const std::map<std::string, Tensor>& inputs, int repeats) {
  ContextState& cs = *state_;
  const EngineState& es = cs.engine->state();
  const ir::Graph& graph = es.model.graph;
  KILN_RETURN_IF_ERROR(setShapesFrom(inputs));
  if (cs.dirty) KILN_RETURN_IF_ERROR(cs.prepare());
  if (!cs.dataDependent.countSlot.empty())
    return unsupported("findRacingBoundaries: an engine with data-dependent shapes is not searched");
  void* stream = cs.stream;
  std::vector<size_t> layers;
  for (size_t i = 0; i < es.kernels.size(); ++i)
    if (es.kernels[i]) layers.push_back(i);
  void* workspace = static_cast<std::byte*>(cs.arena) + cs.workspaceOffset;
  // One run: inputs in and synchronized, the layers with a barrier after those `barrier` marks (a synchronization
  // with `synchronizing`, else a stream fence), outputs out.
  const auto runWith = [&](const std::vector<bool>& barrier, bool synchronizing) -> Expected<std::vector<Tensor>> {
    for (ir::ValueId in : graph.inputs) {
      const Tensor& t = inputs.at(graph.values[in].name);
      KILN_RETURN_IF_ERROR(es.backend->copyToDevice(cs.address[in], t.data(), t.byteSize(), stream));
    }
    KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
    for (size_t k = 0; k < layers.size(); ++k) {
      const size_t i = layers[k];
      KILN_RETURN_IF_ERROR(es.kernels[i]->run(cs.nodeInputs[i], cs.nodeOutputs[i], workspace, stream)
                               .withContext(graph.describe(graph.nodes[i])));
      if (barrier[k])
        KILN_RETURN_IF_ERROR(synchronizing ? es.backend->synchronize(stream) : es.backend->fence(stream));
    }
    std::vector<Tensor> outputs;
    for (ir::ValueId out : graph.outputs) {
      KILN_ASSIGN_OR_RETURN(Tensor host, Tensor::allocate(cs.shapes.dtypes[out], cs.shapes.dims[out]));
      KILN_RETURN_IF_ERROR(es.backend->copyToHost(host.data(), cs.address[out], host.byteSize(), stream));
      outputs.push_back(std::move(host));
    }
    KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
    return outputs;
  };
  constexpr double kDisagreement = 1e-3;  // of the output's scale; far above run-to-run rounding of a sound engine
  RaceSearch search;
  search.layers = layers.size();
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> reference, runWith(std::vector<bool>(layers.size(), true), true));
  // How many of `repeats` runs with these barriers go wrong.
  const auto wrongRuns = [&](const std::vector<bool>& barrier, double* worst) -> Expected<int> {
    int wrong = 0;
    for (int r = 0; r < repeats; ++r) {
      KILN_ASSIGN_OR_RETURN(std::vector<Tensor> got, runWith(barrier, false));
      const double e = relativeError(reference, got);
      if (worst) *worst = std::max(*worst, e);
      if (!(e <= kDisagreement)) ++wrong;
    }
    return wrong;
  };
  search.plainRuns = repeats;
  KILN_ASSIGN_OR_RETURN(search.plainRunsWrong,
                        wrongRuns(std::vector<bool>(layers.size(), false), &search.worstPlainError));
  if (search.plainRunsWrong == 0 || layers.size() < 2) return search;
  for (size_t k = 0; k + 1 < layers.size(); ++k) {
    std::vector<bool> barrier(layers.size(), true);
    barrier[k] = false;
    KILN_ASSIGN_OR_RETURN(int wrong, wrongRuns(barrier, nullptr));
    if (wrong == 0) continue;
    const ir::Node& a = graph.nodes[layers[k]];
    const ir::Node& b = graph.nodes[layers[k + 1]];
    search.boundaries.push_back({k, layers[k + 1], a.name + " (" + std::string(ir::opKindName(a.op)) + ")",
                                 es.kernels[layers[k]]->tactic(), b.name + " (" + std::string(ir::opKindName(b.op)) + ")",
                                 es.kernels[layers[k + 1]]->tactic(), wrong});
  }
  if (!search.boundaries.empty()) return search;
  // No single open boundary reproduces it: the race spans several layers. The fewest leading boundaries that, all
  // open together, still go wrong (bisection; a race seen only sometimes makes this a guide, not a proof).
  size_t lo = 0, hi = layers.size();  // open [0, hi) goes wrong; open [0, lo) is taken as right
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    std::vector<bool> barrier(layers.size(), true);
    std::fill(barrier.begin(), barrier.begin() + static_cast<std::ptrdiff_t>(mid), false);
    KILN_ASSIGN_OR_RETURN(int wrong, wrongRuns(barrier, nullptr));
    (wrong > 0 ? hi : lo) = mid;
  }
  search.openPrefix = hi;
  return search;
}

}  // namespace kiln

// ExecutionContext::traceLayers: a run layer by layer on poisoned memory, each layer's outputs digested. A kernel
// that reads memory it did not write (its output before writing it, a workspace it assumes zeroed, bytes past a
// tensor's end) gives an answer that depends on what the previous run or layer left there: the same inputs then
// answer differently from run to run. Two traces with different poison bytes show the first such layer at once.
#include <cmath>
#include <cstring>

#include "core/tensor_values.h"
#include "runtime/engine_state.h"

namespace kiln {
namespace {

void digestFloats(const Tensor& t, ExecutionContext::LayerDigest& d) {
  if (!isFloatType(t.dtype())) return;
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    const double v = floatElementAsDouble(t, i);
    if (!std::isfinite(v)) {
      ++d.nonFinite;
      continue;
    }
    d.sumAbs += std::fabs(v);
    d.maxAbs = std::max(d.maxAbs, std::fabs(v));
  }
}

uint64_t fnv1a(const void* data, size_t bytes, uint64_t hash) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

}  // namespace

Expected<std::vector<ExecutionContext::LayerDigest>> ExecutionContext::traceLayers(
    const std::map<std::string, Tensor>& inputs, uint8_t poisonByte) {
  ContextState& cs = *state_;
  const EngineState& es = cs.engine->state();
  const ir::Graph& graph = es.model.graph;
  KILN_RETURN_IF_ERROR(setShapesFrom(inputs));
  if (cs.dirty) KILN_RETURN_IF_ERROR(cs.prepare());
  if (!cs.dataDependent.countSlot.empty())
    return unsupported("traceLayers: an engine with data-dependent shapes is not traced");
  void* stream = cs.stream;
  // Poison the whole arena, then put back what a run expects to find there: host values and the inputs.
  constexpr size_t kChunk = size_t{16} << 20;
  std::vector<unsigned char> poison(std::min(kChunk, cs.arenaBytes), poisonByte);
  for (size_t at = 0; at < cs.arenaBytes; at += kChunk)
    KILN_RETURN_IF_ERROR(es.backend->copyToDevice(static_cast<std::byte*>(cs.arena) + at, poison.data(),
                                                  std::min(kChunk, cs.arenaBytes - at), stream));
  KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
  KILN_RETURN_IF_ERROR(cs.uploadHostValues(stream));
  for (ir::ValueId in : graph.inputs) {
    const Tensor& t = inputs.at(graph.values[in].name);
    KILN_RETURN_IF_ERROR(es.backend->copyToDevice(cs.address[in], t.data(), t.byteSize(), stream));
  }
  KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
  void* workspace = static_cast<std::byte*>(cs.arena) + cs.workspaceOffset;
  std::vector<LayerDigest> digests;
  for (size_t i = 0; i < es.kernels.size(); ++i) {
    if (!es.kernels[i]) continue;
    const ir::Node& node = graph.nodes[i];
    KILN_RETURN_IF_ERROR(es.kernels[i]->run(cs.nodeInputs[i], cs.nodeOutputs[i], workspace, stream)
                             .withContext(graph.describe(node)));
    KILN_RETURN_IF_ERROR(es.backend->synchronize(stream).withContext(graph.describe(node)));
    LayerDigest d{node.name, std::string(ir::opKindName(node.op)), es.kernels[i]->tactic()};
    d.bitsHash = 14695981039346656037ull;
    for (const backends::DeviceTensor& out : cs.nodeOutputs[i]) {
      if (!out.present()) continue;
      KILN_ASSIGN_OR_RETURN(Tensor host, Tensor::allocate(out.dtype, out.dims));
      KILN_RETURN_IF_ERROR(es.backend->copyToHost(host.data(), out.data, host.byteSize(), stream));
      KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
      d.bitsHash = fnv1a(host.data(), host.byteSize(), d.bitsHash);
      digestFloats(host, d);
    }
    digests.push_back(std::move(d));
  }
  return digests;
}

}  // namespace kiln

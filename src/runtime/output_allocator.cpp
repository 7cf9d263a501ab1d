// Data-dependent runs: the runtime side of ops/data_dependent.h. Memory is planned with every count at its bound;
// kernels write their outputs densely at the actual count and the count into the context's count block. A layer
// that reads a value whose size depends on a count waits for it: the stream is synchronized, the counts read back,
// the shapes resolved again with them (the shape program included), and the layers after run at those shapes. At
// the end of a run the counts are read once more, outputs get their final shapes, and allocators their data.
#include <algorithm>

#include "builder/memory_planner.h"
#include "runtime/engine_state.h"

namespace kiln::runtime {

void analyzeCountDependencies(const ir::Graph& graph, const ShapeProgram& program, const ResolvedShapes& shapes,
                              DataDependentState& dd) {
  dd.valueDependency.assign(graph.values.size(), -1);
  dd.nodeDependency.assign(graph.nodes.size(), -1);
  std::vector<bool> counted(graph.nodes.size(), false);
  for (const auto& c : shapes.counted) counted[c.node] = true;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    int dep = -1;
    for (ir::ValueId v : n.inputs)
      if (v != ir::kNoValue) dep = std::max(dep, dd.valueDependency[v]);
    dd.nodeDependency[i] = dep;
    const int out = counted[i] ? static_cast<int>(i) : dep;
    for (ir::ValueId v : n.outputs) dd.valueDependency[v] = std::max(dd.valueDependency[v], out);
  }
  dd.needsBarriers = false;
  // Host nodes re-run with the shape program; only a device layer has to wait.
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (dd.nodeDependency[i] >= 0 && !program.hostNode[i]) dd.needsBarriers = true;
}

std::map<ir::ValueId, Dims> pendingOutputDims(const ir::Graph& graph, const ShapeProgram& program,
                                              const std::map<ir::ValueId, Dims>& inputDims,
                                              const DataDependentState& dd) {
  std::map<ir::ValueId, Dims> pending;
  if (dd.countSlot.empty()) return pending;
  std::map<size_t, int64_t> probe;
  for (const auto& c : dd.boundShapes.counted) probe[c.node] = c.size.bound > 1 ? c.size.bound - 1 : 0;
  auto probed = resolveShapes(graph, program, inputDims, probe);
  for (ir::ValueId out : graph.outputs) {
    if (dd.valueDependency[out] < 0) continue;
    Dims d = dd.boundShapes.dims[out];
    for (size_t k = 0; k < d.size(); ++k)
      if (!probed || probed->dims[out].size() != d.size() || probed->dims[out][k] != d[k]) d[k] = kDynamicDim;
    pending[out] = std::move(d);
  }
  return pending;
}

}  // namespace kiln::runtime

namespace kiln {

Status ContextState::readCountsAndResolve(size_t beforeNode, void* onStream) {
  const EngineState& es = engine->state();
  const ir::Graph& graph = es.model.graph;
  auto& dd = dataDependent;
  const size_t bytes = dd.counts.size() * sizeof(int64_t);
  if (!dd.hostCounts) {
    KILN_ASSIGN_OR_RETURN(dd.hostCounts, es.backend->allocateHost(std::max<size_t>(bytes, 8)));
  }
  KILN_RETURN_IF_ERROR(es.backend->synchronize(onStream));
  KILN_RETURN_IF_ERROR(
      es.backend->copyToHost(dd.hostCounts, static_cast<std::byte*>(arena) + dd.countsOffset, bytes, onStream));
  KILN_RETURN_IF_ERROR(es.backend->synchronize(onStream));
  const auto* read = static_cast<const int64_t*>(dd.hostCounts);
  std::map<size_t, int64_t> counts;
  for (const auto& [node, slot] : dd.countSlot) {
    dd.counts[slot] = read[slot];
    if (node < beforeNode) counts[node] = read[slot];
  }
  KILN_ASSIGN_OR_RETURN(runtime::ResolvedShapes resolved, runtime::resolveShapes(graph, es.program, inputDims, counts));
  // The plan was made at the bounds; a count may not make any tensor bigger than that.
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (placement[v] != Placement::kArena) continue;
    const size_t need =
        static_cast<size_t>(std::max<int64_t>(elementCount(resolved.dims[v]), 0)) * dataTypeSize(resolved.dtypes[v]);
    if (need > dd.plannedBytes[v]) {
      const int producer = graph.values[v].producer;
      return unsupported("value '" + graph.values[v].name + "'" +
                         (producer >= 0 ? " of " + graph.describe(graph.nodes[static_cast<size_t>(producer)]) : "") +
                         " needs " + std::to_string(need) + " bytes at the counts this run produced, more than the " +
                         std::to_string(dd.plannedBytes[v]) + " planned with every count at its bound (its size " +
                         "grows as a data-dependent count shrinks, which kiln does not support yet)");
    }
  }
  // Host values that could not be known before these counts go to the device now; earlier ones keep their bytes
  // (their memory may already serve another tensor).
  // At the end of a run no layer is left to read them.
  for (auto& [v, t] : resolved.hostValues) {
    const int dep = dd.valueDependency[v];
    if (beforeNode >= graph.nodes.size() || dep < static_cast<int>(dd.resolvedBefore) ||
        dep >= static_cast<int>(beforeNode) || !address[v] || placement[v] != Placement::kArena)
      continue;
    KILN_RETURN_IF_ERROR(es.backend->copyToDevice(address[v], t.data(), t.byteSize(), onStream));
  }
  dd.resolvedBefore = beforeNode;
  shapes = std::move(resolved);
  bindNodeTensors();
  dd.shapesAtBound = false;
  size_t workspace = 0;
  for (size_t i = beforeNode; i < graph.nodes.size(); ++i)
    if (es.kernels[i]) workspace = std::max(workspace, es.kernels[i]->workspaceBytes(nodeInputs[i], nodeOutputs[i]));
  if (workspace > workspaceBytes)
    return unsupported("layers after a data-dependent count need " + std::to_string(workspace) +
                       " workspace bytes, more than the " + std::to_string(workspaceBytes) + " planned at the bounds");
  return es.backend->synchronize(onStream);  // the uploads read host tensors that the next resolve replaces
}

Status ContextState::runNodesWithCounts(void* onStream) {
  const EngineState& es = engine->state();
  const ir::Graph& graph = es.model.graph;
  const auto& dd = dataDependent;
  int known = -1;  // counts of the nodes before this index are in `shapes`
  for (size_t i = 0; i < es.kernels.size(); ++i) {
    if (!es.kernels[i]) continue;
    if (dd.nodeDependency[i] >= 0 && dd.nodeDependency[i] >= known) {
      KILN_RETURN_IF_ERROR(readCountsAndResolve(i, onStream).withContext("before " + graph.describe(graph.nodes[i])));
      known = static_cast<int>(i);
    }
    void* workspace = static_cast<std::byte*>(arena) + workspaceOffset;
    if (es.fenceBefore[i]) KILN_RETURN_IF_ERROR(es.backend->fence(onStream));
    Status s = es.kernels[i]->run(nodeInputs[i], nodeOutputs[i], workspace, onStream);
    if (!s.isOk()) return s.withContext(graph.describe(graph.nodes[i]));
  }
  return Status::ok();
}

Status ContextState::finishRun(void* onStream) {
  const EngineState& es = engine->state();
  const ir::Graph& graph = es.model.graph;
  auto& dd = dataDependent;
  if (!dd.countSlot.empty()) KILN_RETURN_IF_ERROR(readCountsAndResolve(graph.nodes.size(), onStream));
  dd.ran = true;
  for (auto& [id, binding] : dd.allocators) {
    const std::string& name = graph.values[id].name;
    const Dims& dims = shapes.dims[id];
    const uint64_t bytes =
        static_cast<uint64_t>(std::max<int64_t>(elementCount(dims), 0)) * dataTypeSize(shapes.dtypes[id]);
    if (bytes > binding.bytes || (!binding.memory && bytes > 0)) {
      void* memory = binding.allocator->reallocateOutput(name, binding.memory, bytes, builder::kTensorAlignment);
      if (!memory)
        return outOfMemory("the output allocator of '" + name + "' returned no memory for " + std::to_string(bytes) +
                           " bytes (shape " + dimsToString(dims) + ")");
      binding.memory = memory;
      binding.bytes = bytes;
    }
    KILN_RETURN_IF_ERROR(es.backend->copyOnDevice(binding.memory, address[id], bytes, onStream));
    binding.allocator->notifyShape(name, dims);
  }
  return Status::ok();
}

}  // namespace kiln

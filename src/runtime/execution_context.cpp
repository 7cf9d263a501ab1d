#include <algorithm>
#include <chrono>
#include <cstring>

#include "builder/memory_planner.h"
#include "runtime/engine_state.h"

namespace kiln {

ContextState::~ContextState() {
  graphs.clear();
  if (!engine) return;
  auto& backend = *engine->state().backend;
  if (arena) backend.release(arena);
  if (staging) backend.releaseHost(staging);
  if (dataDependent.hostCounts) backend.releaseHost(dataDependent.hostCounts);
  if (stream) backend.destroyStream(stream);
}

namespace {

bool contains(const std::vector<ir::ValueId>& ids, ir::ValueId v) {
  return std::find(ids.begin(), ids.end(), v) != ids.end();
}

}  // namespace

Status ContextState::prepare() {
  const EngineState& es = engine->state();
  const ir::Graph& graph = es.model.graph;
  for (ir::ValueId in : graph.inputs)
    if (!inputDims.count(in))
      return invalidArgument("input '" + graph.values[in].name + "' has no shape: call setInputShape first");
  KILN_ASSIGN_OR_RETURN(shapes, runtime::resolveShapes(graph, es.program, inputDims));

  const size_t valueCount = graph.values.size();
  const int stepCount = static_cast<int>(graph.nodes.size());
  placement.assign(valueCount, Placement::kNone);
  address.assign(valueCount, nullptr);
  hostValuesToUpload.clear();
  std::vector<int> first(valueCount, stepCount + 1), last(valueCount, -2);
  auto touch = [&](ir::ValueId v, int step) {
    first[v] = std::min(first[v], step);
    last[v] = std::max(last[v], step);
  };
  for (ir::ValueId in : graph.inputs) touch(in, -1);
  for (ir::ValueId out : graph.outputs) touch(out, stepCount);
  for (int i = 0; i < stepCount; ++i) {
    if (es.program.hostNode[i]) continue;
    for (ir::ValueId v : graph.nodes[i].inputs)
      if (v != ir::kNoValue) touch(v, i);
    for (ir::ValueId v : graph.nodes[i].outputs) touch(v, i);
  }
  // Decide where each value lives; the ones in the arena get a lifetime for the planner.
  std::vector<builder::TensorLifetime> lifetimes;
  std::vector<ir::ValueId> arenaValues;
  for (size_t v = 0; v < valueCount; ++v) {
    const auto id = static_cast<ir::ValueId>(v);
    if (last[v] < -1) continue;  // not touched by the device
    const bool isIo = contains(graph.inputs, id) || contains(graph.outputs, id);
    // An output with an allocator is computed in the arena and copied into the allocator's memory after the run.
    if (isIo && userAddresses.count(id) && !dataDependent.allocators.count(id)) {
      placement[v] = Placement::kUser;
      address[v] = userAddresses.at(id);
    } else if (es.deviceConstants.count(id)) {
      placement[v] = Placement::kConstant;
      address[v] = es.deviceConstants.at(id);
      continue;
    } else {
      placement[v] = Placement::kArena;
      // Host values are uploaded once per shape (here), before any input arrives, and read by every run: alive
      // for the whole run, so that no later tensor of a run overwrites what the next run reads.
      if (es.program.hostValue[v]) first[v] = -1, last[v] = stepCount;
      const size_t bytes = static_cast<size_t>(std::max<int64_t>(elementCount(shapes.dims[v]), 0)) *
                           dataTypeSize(shapes.dtypes[v]);
      lifetimes.push_back({bytes, first[v], last[v]});
      arenaValues.push_back(id);
    }
    if (es.program.hostValue[v]) hostValuesToUpload.push_back(id);  // shape-program results and constant outputs
  }
  // Data-dependent layers: one int64 count each, in one block alive throughout (read back with one copy).
  runtime::DataDependentState& dd = dataDependent;
  dd.countSlot.clear();
  for (const auto& c : shapes.counted) dd.countSlot.emplace(c.node, dd.countSlot.size());
  dd.counts.assign(dd.countSlot.size(), 0);
  if (!dd.countSlot.empty()) lifetimes.push_back({dd.countSlot.size() * sizeof(int64_t), -1, stepCount});
  // Per-node tensors, then the workspace the largest kernel needs, alive throughout.
  bindNodeTensors();
  size_t workspace = 0;
  for (int i = 0; i < stepCount; ++i)
    if (!es.program.hostNode[i])
      workspace = std::max(workspace, es.kernels[i]->workspaceBytes(nodeInputs[i], nodeOutputs[i]));
  workspaceBytes = workspace;
  lifetimes.push_back({workspace, -1, stepCount});
  const builder::MemoryPlan plan = builder::planMemory(lifetimes);
  if (plan.totalBytes > arenaBytes) {
    if (arena) es.backend->release(arena);
    arena = nullptr;
    arenaBytes = 0;
    graphs.clear();
    warmedKeys.clear();
    KILN_ASSIGN_OR_RETURN(arena, es.backend->allocate(plan.totalBytes));
    arenaBytes = plan.totalBytes;
  }
  auto* base = static_cast<std::byte*>(arena);
  dd.plannedBytes.assign(valueCount, 0);
  for (size_t k = 0; k < arenaValues.size(); ++k) {
    address[arenaValues[k]] = base + plan.offsets[k];
    dd.plannedBytes[arenaValues[k]] = lifetimes[k].bytes;
  }
  workspaceOffset = plan.offsets.back();
  if (!dd.countSlot.empty()) dd.countsOffset = plan.offsets[plan.offsets.size() - 2];
  bindNodeTensors();
  dd.boundShapes = shapes;
  dd.shapesAtBound = true;
  dd.ran = false;
  runtime::analyzeCountDependencies(graph, es.program, shapes, dd);
  dd.pendingDims = runtime::pendingOutputDims(graph, es.program, inputDims, dd);
  KILN_RETURN_IF_ERROR(uploadHostValues(stream));
  // What a captured CUDA graph depends on: the shapes (hence every tensor's place) and the user's buffers.
  graphKey.clear();
  for (auto& [id, d] : inputDims) graphKey += std::to_string(id) + ":" + dimsToString(d) + ";";
  for (auto& [id, p] : userAddresses)
    graphKey += std::to_string(id) + "@" + std::to_string(reinterpret_cast<uintptr_t>(p)) + ";";
  dirty = false;
  return Status::ok();
}

Status ContextState::uploadHostValues(void* onStream) {
  const EngineState& es = engine->state();
  for (ir::ValueId v : hostValuesToUpload) {
    const Tensor* t = es.model.graph.constantOf(v);
    if (!t) t = &shapes.hostValues.at(v);
    KILN_RETURN_IF_ERROR(es.backend->copyToDevice(address[v], t->data(), t->byteSize(), onStream));
  }
  return es.backend->synchronize(onStream);
}

void ContextState::bindNodeTensors() {
  const EngineState& es = engine->state();
  const ir::Graph& graph = es.model.graph;
  nodeInputs.assign(graph.nodes.size(), {});
  nodeOutputs.assign(graph.nodes.size(), {});
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (es.program.hostNode[i]) continue;
    const ir::Node& n = graph.nodes[i];
    for (ir::ValueId v : n.inputs) {
      backends::DeviceTensor t;
      if (v != ir::kNoValue) {
        t = {shapes.dtypes[v], shapes.dims[v], address.empty() ? nullptr : address[v]};
        if (const Tensor* c = graph.constantOf(v)) t.hostData = c->data();
        else if (auto h = shapes.hostValues.find(v); h != shapes.hostValues.end()) t.hostData = h->second.data();
      }
      nodeInputs[i].push_back(std::move(t));
    }
    for (ir::ValueId v : n.outputs)
      nodeOutputs[i].push_back({shapes.dtypes[v], shapes.dims[v], address.empty() ? nullptr : address[v]});
    if (auto slot = dataDependent.countSlot.find(i); slot != dataDependent.countSlot.end())
      nodeOutputs[i].push_back({DataType::kInt64, {},
                                arena ? static_cast<std::byte*>(arena) + dataDependent.countsOffset +
                                            slot->second * sizeof(int64_t)
                                      : nullptr});
  }
}

Status ContextState::runNodes(void* onStream) const {
  const EngineState& es = engine->state();
  void* workspace = static_cast<std::byte*>(arena) + workspaceOffset;
  for (size_t i = 0; i < es.kernels.size(); ++i) {
    if (!es.kernels[i]) continue;
    if (es.fenceBefore[i]) KILN_RETURN_IF_ERROR(es.backend->fence(onStream));
    Status s = es.kernels[i]->run(nodeInputs[i], nodeOutputs[i], workspace, onStream);
    if (!s.isOk()) return s.withContext(es.model.graph.describe(es.model.graph.nodes[i]));
  }
  return Status::ok();
}

ExecutionContext::ExecutionContext(std::unique_ptr<ContextState> state) : state_(std::move(state)) {}
ExecutionContext::~ExecutionContext() = default;

Status ExecutionContext::setInputShape(const std::string& name, const Dims& dims) {
  const ir::Graph& graph = state_->engine->state().model.graph;
  const ir::ValueId id = graph.findValue(name);
  if (id == ir::kNoValue || !contains(graph.inputs, id)) {
    std::string names;
    for (ir::ValueId in : graph.inputs) names += (names.empty() ? "'" : ", '") + graph.values[in].name + "'";
    return invalidArgument("'" + name + "' is not an input of this engine (inputs: " + names + ")");
  }
  const auto& profile = state_->engine->profile(state_->profileIndex);
  for (const auto& range : profile.inputs) {
    if (range.name != name) continue;
    if (dims.size() != range.min.size())
      return invalidArgument("input '" + name + "' has rank " + std::to_string(range.min.size()) + ", got shape " +
                             dimsToString(dims) + " of rank " + std::to_string(dims.size()));
    const ir::Value& v = graph.values[id];
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] >= range.min[i] && dims[i] <= range.max[i]) continue;
      std::string dimName = i < v.dimNames.size() && !v.dimNames[i].empty() ? " ('" + v.dimNames[i] + "')" : "";
      return invalidArgument("input '" + name + "' dimension " + std::to_string(i) + dimName + " is " +
                             std::to_string(dims[i]) + ", outside profile " + std::to_string(state_->profileIndex) +
                             "'s range [" + std::to_string(range.min[i]) + ", " + std::to_string(range.max[i]) + "]");
    }
  }
  auto it = state_->inputDims.find(id);
  if (it == state_->inputDims.end() || it->second != dims) {
    state_->inputDims[id] = dims;
    state_->dirty = true;
  }
  return Status::ok();
}

Expected<Dims> ExecutionContext::tensorShape(const std::string& name) const {
  const ir::Graph& graph = state_->engine->state().model.graph;
  const ir::ValueId id = graph.findValue(name);
  if (id == ir::kNoValue || (!contains(graph.inputs, id) && !contains(graph.outputs, id)))
    return invalidArgument("'" + name + "' is not an input or output of this engine");
  if (state_->dirty) KILN_RETURN_IF_ERROR(state_->prepare());
  const auto& dd = state_->dataDependent;
  if (auto p = dd.pendingDims.find(id); p != dd.pendingDims.end() && !dd.ran) return p->second;
  return state_->shapes.dims[id];
}

Status ExecutionContext::setOutputAllocator(const std::string& name, OutputAllocator* allocator) {
  const ir::Graph& graph = state_->engine->state().model.graph;
  const ir::ValueId id = graph.findValue(name);
  if (id == ir::kNoValue || !contains(graph.outputs, id))
    return invalidArgument("'" + name + "' is not an output of this engine");
  auto& allocators = state_->dataDependent.allocators;
  if (allocator) {
    auto& binding = allocators[id];
    if (binding.allocator != allocator) binding = {allocator, nullptr, 0};
  } else {
    allocators.erase(id);
  }
  state_->dirty = true;
  return Status::ok();
}

Expected<size_t> ExecutionContext::getMaxOutputSize(const std::string& name) const {
  const ir::Graph& graph = state_->engine->state().model.graph;
  const ir::ValueId id = graph.findValue(name);
  if (id == ir::kNoValue || !contains(graph.outputs, id))
    return invalidArgument("'" + name + "' is not an output of this engine");
  if (state_->dirty) KILN_RETURN_IF_ERROR(state_->prepare());
  const auto& bound = state_->dataDependent.boundShapes;
  return static_cast<size_t>(std::max<int64_t>(elementCount(bound.dims[id]), 0)) * dataTypeSize(bound.dtypes[id]);
}

Expected<bool> ExecutionContext::isShapeDataDependent(const std::string& name) const {
  const ir::Graph& graph = state_->engine->state().model.graph;
  const ir::ValueId id = graph.findValue(name);
  if (id == ir::kNoValue || !contains(graph.outputs, id))
    return invalidArgument("'" + name + "' is not an output of this engine");
  if (state_->dirty) KILN_RETURN_IF_ERROR(state_->prepare());
  const std::vector<int>& dependency = state_->dataDependent.valueDependency;
  return static_cast<size_t>(id) < dependency.size() && dependency[id] >= 0;
}

Status ExecutionContext::setTensorAddress(const std::string& name, void* address) {
  const ir::Graph& graph = state_->engine->state().model.graph;
  const ir::ValueId id = graph.findValue(name);
  if (id == ir::kNoValue || (!contains(graph.inputs, id) && !contains(graph.outputs, id)))
    return invalidArgument("'" + name + "' is not an input or output of this engine");
  if (address) state_->userAddresses[id] = address;
  else state_->userAddresses.erase(id);
  state_->dirty = true;
  return Status::ok();
}

void ExecutionContext::setCudaGraphsEnabled(bool enabled) { state_->useGraphs = enabled; }

Status ExecutionContext::enqueue(void* stream) {
  ContextState& cs = *state_;
  if (cs.dirty) KILN_RETURN_IF_ERROR(cs.prepare());
  auto& dd = cs.dataDependent;
  if (dd.countSlot.empty() && dd.allocators.empty()) return enqueueLayers(stream);
  if (!dd.shapesAtBound) {  // the last run left its counts' shapes: every run starts at the bounds
    cs.shapes = dd.boundShapes;
    cs.bindNodeTensors();
    dd.shapesAtBound = true;
  }
  dd.resolvedBefore = 0;
  KILN_RETURN_IF_ERROR(dd.needsBarriers ? cs.runNodesWithCounts(stream) : enqueueLayers(stream));
  return cs.finishRun(stream);
}

Status ExecutionContext::enqueueLayers(void* stream) {
  ContextState& cs = *state_;
  auto& backend = *cs.engine->state().backend;
  if (!cs.useGraphs || stream == nullptr) return cs.runNodes(stream);
  const std::string& key = cs.graphKey;
  auto it = cs.graphs.find(key);
  if (it == cs.graphs.end() && cs.warmedKeys.insert(key).second) {
    // The first run for a shape is a plain one: libraries create their per-stream state (handles, plans) outside
    // any capture, and the graph is captured on the second run.
    return cs.runNodes(stream);
  }
  if (it == cs.graphs.end()) {
    KILN_ASSIGN_OR_RETURN(auto work, backend.capture([&cs](void* s) { return cs.runNodes(s); }, stream));
    if (!work) {
      cs.useGraphs = false;  // this backend has no graphs
      return cs.runNodes(stream);
    }
    it = cs.graphs.emplace(key, std::move(work)).first;
  }
  return it->second->replay(stream);
}

Expected<std::vector<ExecutionContext::LayerTiming>> ExecutionContext::profileLayers(void* stream, int iterations) {
  ContextState& cs = *state_;
  if (cs.dirty) KILN_RETURN_IF_ERROR(cs.prepare());
  const EngineState& es = cs.engine->state();
  const ir::Graph& graph = es.model.graph;
  void* workspace = static_cast<std::byte*>(cs.arena) + cs.workspaceOffset;
  // On a device, one layer alone is mostly launch and synchronize latency (~20 us, more than most layers take), so
  // each layer's `repeats` runs are captured once into a replayable graph where the backend has one (CUDA graphs):
  // a replay puts them back to back on the GPU with one launch, and the time divided by `repeats` approaches the
  // layer's GPU time. Without capture the runs are launched back to back instead. Repeating is safe because the
  // memory planner never lets a node's output share bytes with its inputs (both are alive at that node's step), so
  // every repeat reads the same inputs; the one exception is a user who binds the same buffer to a graph input and
  // a graph output. The CPU backend has no launch latency and runs each layer once per sample.
  const int repeats = es.backend->kind() == DeviceKind::kCpu ? 1 : 20;
  KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
  std::vector<std::vector<double>> samples(es.kernels.size());
  std::vector<std::unique_ptr<backends::ReplayableWork>> captured(es.kernels.size());
  for (size_t i = 0; i < es.kernels.size() && repeats > 1; ++i) {
    if (!es.kernels[i]) continue;
    const auto body = [&](void* s) -> Status {
      for (int r = 0; r < repeats; ++r)
        KILN_RETURN_IF_ERROR(es.kernels[i]->run(cs.nodeInputs[i], cs.nodeOutputs[i], workspace, s));
      return Status::ok();
    };
    KILN_RETURN_IF_ERROR(body(stream).withContext(graph.describe(graph.nodes[i])));  // first runs make plans
    KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
    auto work = es.backend->capture(body, stream);
    if (work) captured[i] = std::move(*work);  // a layer that cannot be captured is timed by direct launches
  }
  for (int it = 0; it < std::max(iterations, 1); ++it) {
    for (size_t i = 0; i < es.kernels.size(); ++i) {
      if (!es.kernels[i]) continue;
      const auto t0 = std::chrono::steady_clock::now();
      if (captured[i]) {
        KILN_RETURN_IF_ERROR(captured[i]->replay(stream).withContext(graph.describe(graph.nodes[i])));
      } else {
        for (int r = 0; r < repeats; ++r)
          KILN_RETURN_IF_ERROR(es.kernels[i]->run(cs.nodeInputs[i], cs.nodeOutputs[i], workspace, stream)
                                   .withContext(graph.describe(graph.nodes[i])));
      }
      KILN_RETURN_IF_ERROR(es.backend->synchronize(stream));
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      samples[i].push_back(ms / repeats);
    }
  }
  std::vector<LayerTiming> result;
  for (size_t i = 0; i < es.kernels.size(); ++i) {
    if (!es.kernels[i]) continue;
    auto& v = samples[i];
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    result.push_back({graph.nodes[i].name, std::string(ir::opKindName(graph.nodes[i].op)), es.kernels[i]->tactic(),
                      v[v.size() / 2]});
  }
  return result;
}

Status ExecutionContext::setShapesFrom(const std::map<std::string, Tensor>& inputs) {
  const ir::Graph& graph = state_->engine->state().model.graph;
  for (ir::ValueId in : graph.inputs) {
    const std::string& name = graph.values[in].name;
    auto it = inputs.find(name);
    if (it == inputs.end()) return invalidArgument("input '" + name + "' was not given");
    if (it->second.dtype() != graph.values[in].dtype)
      return invalidArgument("input '" + name + "' must be " + dataTypeName(graph.values[in].dtype) + ", got " +
                             dataTypeName(it->second.dtype()));
    KILN_RETURN_IF_ERROR(setInputShape(name, it->second.dims()));
  }
  for (auto& [name, t] : inputs) {
    const ir::ValueId id = graph.findValue(name);
    if (id == ir::kNoValue || !contains(graph.inputs, id))
      return invalidArgument("'" + name + "' is not an input of this engine");
  }
  return Status::ok();
}

Expected<std::map<std::string, Tensor>> ExecutionContext::infer(const std::map<std::string, Tensor>& inputs) {
  ContextState& cs = *state_;
  const EngineState& es = cs.engine->state();
  const ir::Graph& graph = es.model.graph;
  KILN_RETURN_IF_ERROR(setShapesFrom(inputs));
  if (cs.dirty) KILN_RETURN_IF_ERROR(cs.prepare());
  // Outputs are made after the run (data-dependent ones take their size from it); staging is sized at the bounds.
  std::map<std::string, Tensor> results;
  size_t outputBytes = 0;
  for (ir::ValueId out : graph.outputs) {
    KILN_ASSIGN_OR_RETURN(size_t bytes, getMaxOutputSize(graph.values[out].name));
    outputBytes += builder::kTensorAlignment + bytes;
  }
  // A device engine copies through page-locked staging memory, so the copies are true DMA transfers on the stream;
  // the CPU backend's "device" is host memory already.
  const bool stage = es.backend->kind() != DeviceKind::kCpu;
  size_t need = 0;
  for (ir::ValueId in : graph.inputs) need += builder::kTensorAlignment + inputs.at(graph.values[in].name).byteSize();
  need += outputBytes;
  if (stage && need > cs.stagingBytes) {
    if (cs.staging) es.backend->releaseHost(cs.staging);
    cs.staging = nullptr;
    cs.stagingBytes = 0;
    KILN_ASSIGN_OR_RETURN(cs.staging, es.backend->allocateHost(need));
    cs.stagingBytes = need;
  }
  auto* cursor = static_cast<std::byte*>(cs.staging);
  auto nextSlot = [&](size_t bytes) {
    std::byte* slot = cursor;
    cursor += (bytes + builder::kTensorAlignment - 1) / builder::kTensorAlignment * builder::kTensorAlignment;
    return slot;
  };
  for (ir::ValueId in : graph.inputs) {
    const Tensor& t = inputs.at(graph.values[in].name);
    const void* src = t.data();
    if (stage) {
      std::byte* slot = nextSlot(t.byteSize());
      if (t.byteSize()) std::memcpy(slot, t.data(), t.byteSize());
      src = slot;
    }
    KILN_RETURN_IF_ERROR(es.backend->copyToDevice(cs.address[in], src, t.byteSize(), cs.stream));
  }
  KILN_RETURN_IF_ERROR(enqueue(cs.stream));
  std::vector<std::pair<std::byte*, Tensor*>> unstage;
  for (ir::ValueId out : graph.outputs) {
    KILN_ASSIGN_OR_RETURN(Tensor made, Tensor::allocate(cs.shapes.dtypes[out], cs.shapes.dims[out]));
    Tensor& t = results[graph.values[out].name] = std::move(made);
    void* dst = t.data();
    if (stage) {
      std::byte* slot = nextSlot(t.byteSize());
      unstage.push_back({slot, &t});
      dst = slot;
    }
    KILN_RETURN_IF_ERROR(es.backend->copyToHost(dst, cs.address[out], t.byteSize(), cs.stream));
  }
  KILN_RETURN_IF_ERROR(es.backend->synchronize(cs.stream));
  for (auto& [slot, t] : unstage)
    if (t->byteSize()) std::memcpy(t->data(), slot, t->byteSize());
  return results;
}

}  // namespace kiln

#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/engine_state.h"

namespace kiln {

EngineState::~EngineState() {
  kernels.clear();
  if (backend)
    for (auto& [id, p] : deviceConstants) backend->release(p);
}

Engine::Engine(std::unique_ptr<EngineState> state) : state_(std::move(state)) {}
Engine::~Engine() = default;

Expected<std::shared_ptr<Engine>> Engine::load(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return ioError("'" + path + "' is not a readable file");
  std::ifstream f(path, std::ios::binary);
  if (!f) return ioError("cannot open '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto engine = loadFromMemory(bytes.data(), bytes.size());
  if (!engine) return engine.status().withContext("'" + path + "'");
  return engine;
}

namespace {

TensorDesc describe(const ir::Graph& g, ir::ValueId id) {
  const ir::Value& v = g.values[id];
  TensorDesc d{v.name, v.dtype, v.dims, v.dimNames};
  d.dimNames.resize(d.dims.size());
  return d;
}

std::string layerLine(const ir::Graph& g, const ir::Node& n, const std::string& where) {
  std::string s = n.name + " [" + std::string(ir::opKindName(n.op)) + "] " + where + " (";
  for (size_t i = 0; i < n.inputs.size(); ++i) s += (i ? ", " : "") + g.valueName(n.inputs[i]);
  s += ") -> (";
  for (size_t i = 0; i < n.outputs.size(); ++i) s += (i ? ", " : "") + g.valueName(n.outputs[i]);
  return s + ")";
}

}  // namespace

Expected<std::shared_ptr<Engine>> Engine::loadFromMemory(const void* data, size_t size) {
  auto state = std::make_unique<EngineState>();
  KILN_ASSIGN_OR_RETURN(state->model, engine::readEngine(data, size));
  const auto& md = state->model.metadata;
  auto precisions = md.count("build.precisions") ? md.at("build.precisions") : std::string("fp32");
  backends::BackendOptions options{.allowTF32 = precisions.find("tf32") != std::string::npos};
  KILN_ASSIGN_OR_RETURN(state->backend, backends::createBackend(state->model.device, options));
  KILN_RETURN_IF_ERROR(state->backend->checkCompatible(md));

  const ir::Graph& graph = state->model.graph;
  state->program = runtime::analyzeShapeProgram(graph);
  state->kernels.resize(graph.nodes.size());
  state->fenceBefore.assign(graph.nodes.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    if (state->program.hostNode[i]) {
      state->layerLines.push_back(layerLine(graph, n, "host"));
      continue;
    }
    KILN_RETURN_IF_ERROR(state->backend->supports(graph, n));
    for (ir::ValueId in : n.inputs) {
      const Tensor* c = in == ir::kNoValue ? nullptr : graph.constantOf(in);
      if (!c || state->deviceConstants.count(in)) continue;
      KILN_ASSIGN_OR_RETURN(void* p, state->backend->allocate(std::max<size_t>(c->byteSize(), 1)));
      state->deviceConstants[in] = p;
      KILN_RETURN_IF_ERROR(state->backend->copyToDevice(p, c->data(), c->byteSize(), nullptr));
    }
    const std::string tactic = i < state->model.tactics.size() ? state->model.tactics[i] : "";
    KILN_ASSIGN_OR_RETURN(state->kernels[i], state->backend->createKernel(graph, n, tactic));
    state->fenceBefore[i] = n.attrs.getInt(ir::kFenceBeforeAttribute, 0) != 0;
    state->layerLines.push_back(
        layerLine(graph, n, state->kernels[i]->tactic() + (state->fenceBefore[i] ? " (after a stream fence)" : "")));
  }
  KILN_RETURN_IF_ERROR(state->backend->synchronize(nullptr));
  for (ir::ValueId in : graph.inputs) state->inputs.push_back(describe(graph, in));
  for (ir::ValueId out : graph.outputs) state->outputs.push_back(describe(graph, out));
  return std::shared_ptr<Engine>(new Engine(std::move(state)));
}

DeviceKind Engine::device() const { return state_->model.device; }
std::vector<TensorDesc> Engine::inputs() const { return state_->inputs; }
std::vector<TensorDesc> Engine::outputs() const { return state_->outputs; }
int Engine::profileCount() const { return static_cast<int>(state_->model.profiles.size()); }
const OptimizationProfile& Engine::profile(int index) const { return state_->model.profiles.at(index); }
std::vector<std::string> Engine::layerDescriptions() const { return state_->layerLines; }
const std::map<std::string, std::string>& Engine::metadata() const { return state_->model.metadata; }

Expected<std::unique_ptr<ExecutionContext>> Engine::createContext(int profileIndex) {
  if (profileIndex < 0 || profileIndex >= profileCount())
    return invalidArgument("profile " + std::to_string(profileIndex) + " does not exist; the engine has " +
                           std::to_string(profileCount()) + " profile(s)");
  auto cs = std::make_unique<ContextState>();
  cs->engine = shared_from_this();
  cs->profileIndex = profileIndex;
  const ir::Graph& graph = state_->model.graph;
  // Size the arena once at the profile's max shapes, so that enqueue never allocates.
  for (const auto& range : profile(profileIndex).inputs) cs->inputDims[graph.findValue(range.name)] = range.max;
  KILN_RETURN_IF_ERROR(cs->prepare().withContext("sizing memory at the profile's max shapes"));
  KILN_ASSIGN_OR_RETURN(cs->stream, state_->backend->createStream());
  // Inputs with fixed dims keep them; dynamic ones must be set by the user.
  for (const auto& range : profile(profileIndex).inputs)
    if (range.min != range.max) cs->inputDims.erase(graph.findValue(range.name));
  cs->dirty = true;
  return std::unique_ptr<ExecutionContext>(new ExecutionContext(std::move(cs)));
}

}  // namespace kiln

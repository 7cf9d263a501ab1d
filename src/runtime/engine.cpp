// STUB (lead): replaced soon.
#include "kiln/runtime.h"
namespace kiln {
struct EngineState {};
struct ContextState {};
Engine::Engine(std::unique_ptr<EngineState> s) : state_(std::move(s)) {}
Engine::~Engine() = default;
Expected<std::shared_ptr<Engine>> Engine::load(const std::string&) { return unsupported("not yet"); }
Expected<std::shared_ptr<Engine>> Engine::loadFromMemory(const void*, size_t) { return unsupported("not yet"); }
DeviceKind Engine::device() const { return DeviceKind::kCpu; }
std::vector<TensorDesc> Engine::inputs() const { return {}; }
std::vector<TensorDesc> Engine::outputs() const { return {}; }
int Engine::profileCount() const { return 0; }
const OptimizationProfile& Engine::profile(int) const { static OptimizationProfile p; return p; }
std::vector<std::string> Engine::layerDescriptions() const { return {}; }
const std::map<std::string, std::string>& Engine::metadata() const { static std::map<std::string, std::string> m; return m; }
Expected<std::unique_ptr<ExecutionContext>> Engine::createContext(int) { return unsupported("not yet"); }
ExecutionContext::ExecutionContext(std::unique_ptr<ContextState> s) : state_(std::move(s)) {}
ExecutionContext::~ExecutionContext() = default;
Status ExecutionContext::setInputShape(const std::string&, const Dims&) { return unsupported("not yet"); }
Expected<Dims> ExecutionContext::tensorShape(const std::string&) const { return unsupported("not yet"); }
Status ExecutionContext::setTensorAddress(const std::string&, void*) { return unsupported("not yet"); }
Status ExecutionContext::enqueue(void*) { return unsupported("not yet"); }
Expected<std::map<std::string, Tensor>> ExecutionContext::infer(const std::map<std::string, Tensor>&) { return unsupported("not yet"); }
}  // namespace kiln

// STUB: to be replaced by the engine file's owner.
#include "engine/engine_file.h"

namespace kiln::engine {
Expected<std::vector<std::byte>> writeEngine(const EngineModel&) { return unsupported("engine writer not implemented yet"); }
Expected<EngineModel> readEngine(const void*, size_t) { return unsupported("engine reader not implemented yet"); }
}  // namespace kiln::engine

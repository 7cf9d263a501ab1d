// STUB (lead): replaced soon.
#include "kiln/builder.h"
namespace kiln {
Expected<std::vector<std::byte>> buildEngine(Network&, const BuilderConfig&) { return unsupported("buildEngine: not yet"); }
}  // namespace kiln

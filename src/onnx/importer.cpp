// STUB: to be replaced by the importer's owner.
#include "onnx/importer.h"

namespace kiln::onnx {
Expected<std::unique_ptr<ir::Graph>> importModel(const void*, size_t, const std::string&) {
  return unsupported("ONNX import not implemented yet");
}
}  // namespace kiln::onnx

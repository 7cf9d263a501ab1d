// ONNX ModelProto → ir::Graph. Knows ONNX, nothing about kernels.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::onnx {

struct ImportOptions {
  /// Reject nodes whose operator kiln does not implement (ops::isImplemented). Tests of the import itself turn
  /// this off so that they do not depend on which op families exist yet.
  bool checkSupport = true;
};

/// Parses and imports a serialized ModelProto. External-data initializers are read from files that must resolve
/// inside `baseDir` ("" forbids external data). Opsets 13..21 of the default domain. On failure the Status lists
/// every unsupported or invalid node at once ("node 'x' (Foo): reason", one per line).
/// The result is verified (ir::verifyGraph) and topologically sorted.
Expected<std::unique_ptr<ir::Graph>> importModel(const void* data, size_t size, const std::string& baseDir);
Expected<std::unique_ptr<ir::Graph>> importModel(const void* data, size_t size, const std::string& baseDir,
                                                 const ImportOptions& options);

}  // namespace kiln::onnx

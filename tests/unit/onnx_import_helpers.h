// Helpers shared by the ONNX importer tests (header-only).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "onnx/importer.h"
#include "onnx/testing/onnx_model_writer.h"

namespace kiln::onnx {

// Import without the "is the op implemented" check, so these tests do not depend on which op families exist.
inline Expected<std::unique_ptr<ir::Graph>> importUnchecked(const testing::ModelBuilder& m, const std::string& baseDir = "") {
  const std::string bytes = m.serialize();
  return importModel(bytes.data(), bytes.size(), baseDir, ImportOptions{.checkSupport = false});
}

inline const ir::Node* findNode(const ir::Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

template <typename T>
inline std::vector<T> contents(const Tensor& t) {
  const T* p = t.dataAs<T>();
  return std::vector<T>(p, p + t.elementCount());
}

inline std::vector<int64_t> int64Input(const ir::Graph& g, const ir::Node& n, size_t index) {
  if (index >= n.inputs.size()) return {-999};
  const Tensor* t = g.constantOf(n.inputs[index]);
  if (!t || t->dtype() != DataType::kInt64) return {-999};
  return contents<int64_t>(*t);
}


}  // namespace kiln::onnx

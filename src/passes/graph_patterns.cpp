#include "passes/graph_patterns.h"

#include "core/half.h"

namespace kiln::passes {

int32_t soleConsumer(const ir::Graph& graph, ir::ValueId v) {
  if (graph.isGraphOutput(v)) return -1;
  const auto readers = graph.consumers(v);
  return readers.size() == 1 ? readers[0] : -1;
}

std::optional<float> scalarConstant(const ir::Graph& graph, ir::ValueId v) {
  const Tensor* t = graph.constantOf(v);
  if (!t || t->elementCount() != 1) return std::nullopt;
  switch (t->dtype()) {
    case DataType::kFloat32: return t->dataAs<float>()[0];
    case DataType::kFloat16: return halfBitsToFloat(t->dataAs<uint16_t>()[0]);
    case DataType::kFloat64: return static_cast<float>(t->dataAs<double>()[0]);
    case DataType::kInt64: return static_cast<float>(t->dataAs<int64_t>()[0]);
    case DataType::kInt32: return static_cast<float>(t->dataAs<int32_t>()[0]);
    default: return std::nullopt;
  }
}

}  // namespace kiln::passes

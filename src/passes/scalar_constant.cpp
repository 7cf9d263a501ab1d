#include "passes/scalar_constant.h"

#include "core/half.h"

namespace kiln::passes {

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

// Backend-neutral output types and shapes for every operator, on concrete input shapes.
#pragma once

#include <span>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ops {

/// What shape inference knows of one tensor. `value` is set when its contents are known on the host (a constant or
/// a result of the shape program), which ops like Reshape, Expand, Slice or Range need for their shape inputs.
struct TensorInfo {
  DataType dtype = DataType::kUndefined;  // kUndefined: an omitted optional input
  Dims dims;
  const Tensor* value = nullptr;
  bool present() const { return dtype != DataType::kUndefined; }
};

/// Inputs of one node plus the graph it lives in (for messages). Family functions receive this.
struct InferenceCall {
  const ir::Graph& graph;
  const ir::Node& node;
  std::span<const TensorInfo> inputs;
  /// "node 'x' (Conv): " — prefix for every error message.
  std::string where() const { return graph.describe(node) + ": "; }
};

/// Ok when the node has minCount..maxCount inputs and the first minCount are present; else an error naming the node.
Status requireInputs(const InferenceCall& call, size_t minCount, size_t maxCount);
/// Ok when attribute `name` is absent or an int; else an error naming the node and the attribute.
Status requireIntAttr(const InferenceCall& call, const char* name);

/// Output dtypes and concrete dims of `node`. Validates attributes and input ranks/dtypes; errors name the node,
/// the input and what was expected.
Expected<std::vector<TensorInfo>> inferOutputs(const ir::Graph& graph, const ir::Node& node,
                                               std::span<const TensorInfo> inputs);

/// Whether kiln implements `kind` at all (shape inference + CPU reference).
bool isImplemented(ir::OpKind kind);

}  // namespace kiln::ops

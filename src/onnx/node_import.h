// What a per-op importer sees: the ONNX node and the ir::Node being built from it. Importers normalize legacy or
// attribute forms into kiln's canonical IR form (DESIGN.md: one op, one family file per layer).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

struct NodeImport {
  ir::Graph& graph;
  const ::onnx::NodeProto& proto;
  /// Already holds the op kind, name, resolved inputs/outputs and converted attributes.
  ir::Node& node;
  int64_t opset;
  /// Whether a value is read by some node or is a graph output.
  std::function<bool(ir::ValueId)> isRead;
};

/// Normalizes `import.node` in place. Errors carry only the reason; the caller prefixes the node's description.
using ImportFn = Status (*)(NodeImport& import);

/// Adds an int64 constant of shape [values.size()] named after the node ("<node>_<suffix>").
ir::ValueId addInt64Constant(NodeImport& import, const std::string& suffix, const std::vector<int64_t>& values);
/// Adds a float32 scalar constant named after the node.
ir::ValueId addFloatScalarConstant(NodeImport& import, const std::string& suffix, float value);

/// Places `value` at input slot `index`, padding skipped slots with kNoValue. Fails if the slot is already used
/// (the model gave both the attribute form and the input form).
Status setInputSlot(NodeImport& import, size_t index, ir::ValueId value, const std::string& attrName);

/// The legacy "INTS attribute → int64 input" conversion (axes of Squeeze/Unsqueeze/Reduce*, split, pads).
Status moveIntsAttributeToInput(NodeImport& import, const std::string& attrName, size_t inputIndex);

/// Fails when the node has more than `maxInputs` inputs or fewer than `minInputs` present ones at the front.
Status checkInputCount(const NodeImport& import, size_t minInputs, size_t maxInputs);

// The importers, one per normalization; importer_table.cpp maps each OpKind to one of them.
Status importAsIs(NodeImport& import);
Status importReduce(NodeImport& import);               // importers/reduction.cpp
Status importSqueezeUnsqueeze(NodeImport& import);     // importers/data_movement.cpp
Status importSplit(NodeImport& import);
Status importPad(NodeImport& import);
Status importResize(NodeImport& import);
Status importClip(NodeImport& import);                 // importers/elementwise.cpp
Status importCast(NodeImport& import);
Status importIdentityOrDropout(NodeImport& import);
Status importConstantNode(NodeImport& import);         // importers/generators.cpp
Status importAttention(NodeImport& import);            // importers/attention.cpp: ONNX Attention -> FusedAttention

/// Turns a Constant node's attributes into its tensor (value, value_float(s), value_int(s)).
Expected<Tensor> constantNodeTensor(const ::onnx::NodeProto& proto, const std::string& baseDir);

}  // namespace kiln::onnx

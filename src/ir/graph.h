// kiln's IR: values (typed tensors with possibly dynamic dims), nodes (one operator each), constants.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/attributes.h"
#include "ir/op_kind.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ir {

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;  // an omitted optional input

struct Value {
  std::string name;
  DataType dtype = DataType::kUndefined;
  /// Known rank: dims holds one entry per axis, kDynamicDim where it varies. Unknown rank: rankKnown false.
  bool rankKnown = false;
  Dims dims;
  /// Symbolic name per dim ("batch_size") where the model gave one; same length as dims or empty.
  std::vector<std::string> dimNames;
  int32_t producer = -1;  // index into Graph::nodes, -1 for graph inputs and constants
};

class Graph;

struct Node {
  std::string name;
  OpKind op = OpKind::kIdentity;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Attributes attrs;
  /// Control flow: the ONNX graph attributes (If's "then_branch" and "else_branch", Loop's "body"). A subgraph's
  /// inputs are its own ONNX inputs (a Loop body's iteration, condition and carried values; none for If) followed by
  /// the outer-scope values it reads, which are also this node's last inputs, in the same order.
  std::map<std::string, std::shared_ptr<const Graph>> subgraphs;
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;  // topologically ordered once verify() has run
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  std::map<ValueId, Tensor> constants;  // initializers and folded values
  int64_t opsetVersion = 17;
  std::string producerName;

  /// Adds a value with a unique name (a suffix is appended if `name` is taken or empty).
  ValueId addValue(std::string name, DataType dtype = DataType::kUndefined);
  ValueId addConstant(std::string name, Tensor tensor);
  /// -1 when absent.
  ValueId findValue(const std::string& name) const;
  const Tensor* constantOf(ValueId id) const;
  bool isConstant(ValueId id) const { return constants.count(id) != 0; }
  bool isGraphOutput(ValueId id) const;

  /// Node indices that read `id`.
  std::vector<int32_t> consumers(ValueId id) const;
  /// Rewires every reader of `from` (nodes and graph outputs) to `to`.
  void replaceAllUses(ValueId from, ValueId to);
  /// Recomputes Value::producer; orders nodes so producers precede consumers. Fails on a cycle, naming its nodes.
  Status topologicalSort();
  /// Drops the nodes whose flag is set (a rewrite that rewired their readers), then re-sorts and removes what is dead.
  Status eraseNodes(const std::vector<bool>& erase);
  /// Removes nodes whose outputs nobody reads, and unused constants. Returns how many nodes went.
  int removeDeadNodes();
  /// Drops values no node, input, output or constant refers to, renumbering ids. Keeps everything else intact.
  void compact();

  /// "node 'conv1' (Conv)" for messages.
  std::string describe(const Node& node) const;
  std::string valueName(ValueId id) const;

 private:
  std::unordered_map<std::string, ValueId> byName_;
};

}  // namespace kiln::ir

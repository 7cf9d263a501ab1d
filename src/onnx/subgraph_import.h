// Control-flow subgraphs (If's then_branch / else_branch) → ir::Graph objects attached to the node
// (ir::Node::subgraphs). A subgraph's reads of outer-scope names become its graph inputs, and the node gains the
// matching outer values as inputs after its own, so that order, liveness and renaming stay explicit in the IR.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "onnx/importer.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

/// A name visible in an enclosing scope: its id there and what is known of it.
struct OuterValue {
  ir::ValueId id = ir::kNoValue;
  ir::Value info;
};
/// Resolves a name in the enclosing scopes (nullopt when no scope defines it).
using OuterScope = std::function<std::optional<OuterValue>(const std::string&)>;

struct ImportedSubgraph {
  std::shared_ptr<ir::Graph> graph;
  std::vector<ir::ValueId> outerValues;  // graph->inputs[k] stands for outerValues[k] of the enclosing graph
};

/// Imports one subgraph (importer.cpp, the same driver as the main graph). Names it reads but does not define are
/// resolved through `outer` and become its inputs.
Expected<ImportedSubgraph> importSubgraph(const ::onnx::ModelProto& model, const ::onnx::GraphProto& proto,
                                          int64_t opset, const std::string& baseDir, const ImportOptions& options,
                                          const OuterScope& outer);

/// Imports an If node's branches into `node` (its input 0, the condition, is already resolved): node.subgraphs
/// gets "then_branch" and "else_branch", node.inputs gains the outer values either branch reads.
Status importIfBranches(const ::onnx::ModelProto& model, const ::onnx::NodeProto& proto, ir::Node& node,
                        int64_t opset, const std::string& baseDir, const ImportOptions& options,
                        const OuterScope& scope);

/// Imports a Loop node's body into `node` (its inputs M, cond and the initial loop-carried values are resolved):
/// node.subgraphs gets "body", whose inputs are (iteration, cond, carried values..., outer values...), and
/// node.inputs gains the same outer values after the carried ones.
Status importLoopBody(const ::onnx::ModelProto& model, const ::onnx::NodeProto& proto, ir::Node& node, int64_t opset,
                      const std::string& baseDir, const ImportOptions& options, const OuterScope& scope);

}  // namespace kiln::onnx

// Control flow decided at build time (ONNX If as torch exports it, e.g. a check on a static dim).
#pragma once

#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::passes {

/// Every If whose condition is a constant (after folding) is replaced by its chosen branch's nodes: values renamed
/// "<if>/<name>" to stay unique, outer-scope reads wired to the If's inputs, branch outputs written to the If's
/// outputs. Nested Ifs that come out of a branch are inlined in the same call when their condition is constant.
/// An If whose condition depends on tensor data (not only on shapes) is refused, naming the node. One whose condition
/// depends on dynamic dims stays: the builder's profiles may fix those dims (then a later round inlines it).
/// Returns the number of Ifs inlined.
Expected<int> inlineControlFlow(ir::Graph& graph);

/// Appends `branch`'s nodes (branch `branchName` of If `ifNode`) to `added`: values renamed "<if>/<name>", outer-scope
/// reads wired to the If's inputs, branch outputs written to the If's outputs (an Identity where a branch output is
/// an outer value or a constant). Also used by passes/select_empty_branch.cpp.
Status inlineBranch(ir::Graph& graph, const ir::Node& ifNode, const ir::Graph& branch, const char* branchName,
                    std::vector<ir::Node>& added);

/// After the last round of passes: an If still in the graph has a condition that varies within the profile. The error
/// names the node and the dims its condition depends on.
Status checkControlFlowResolved(const ir::Graph& graph);

}  // namespace kiln::passes

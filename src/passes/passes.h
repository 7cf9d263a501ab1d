// Graph-to-graph rewrites, one per file. Each returns how many rewrites it made (or an error naming the node).
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::passes {

/// Identity (and Dropout, which the importer turned into Identity) disappears: readers use its input.
int removeIdentities(ir::Graph& graph);
/// Nodes whose inputs are all constants run once on the CPU and become constants; so does Shape/Size of a value
/// whose dims are all static (Value::dims with no kDynamicDim), which folds torch's shape arithmetic away.
Expected<int> foldConstants(ir::Graph& graph);
/// Nodes no output depends on, and unused constants.
int removeDeadCode(ir::Graph& graph);
/// Conv followed by an inference BatchNormalization becomes one Conv with scaled weights and a bias.
Expected<int> foldBatchNormIntoConv(ir::Graph& graph);

/// MatMul(Q, K^T) -> constant scale -> (Add mask) -> Softmax(last axis) -> MatMul(., V), in the forms torch's legacy and
/// dynamo exporters write, becomes one FusedAttention node (ops/attention.h) named after the second MatMul, with the
/// other nodes' names in "fused_nodes". Fuses only where the meaning is kept exactly (fuse_attention.cpp says how);
/// leaves everything else alone. Returns the number of attention nodes made.
Expected<int> fuseAttention(ir::Graph& graph);

/// What the standard pipeline may make: kinds of node the target backend has no kernel for stay unfused.
struct GraphPassOptions {
  bool fuseAttention = true;
  bool verbose = false;
};

/// The standard pipeline, repeated until nothing changes.
Status runGraphPasses(ir::Graph& graph, const GraphPassOptions& options);

}  // namespace kiln::passes

namespace kiln::passes {

/// Whether input `slot` of `node` carries float32 data that follows the node's precision (Resize's roi and scales
/// are host parameters and do not).
bool isFloatDataSlot(const ir::Graph& graph, const ir::Node& node, size_t slot);

/// Mixed precision (DESIGN.md rule 6): a copy of the float32 graph `base` in which every node flagged in `lowNode`
/// (one flag per node of `base`) computes in `low` (float16 or bfloat16): its float32 data inputs and outputs take
/// that type, under the same value ids. Casts join values wherever producer and consumer differ (one per value and
/// type); constants are converted per consumer's type (a copy where both types read one); graph inputs and outputs
/// stay float32; integer and host shape-program values are untouched.
struct MixedGraph {
  ir::Graph graph;
  std::vector<size_t> nodeOf;  // per node of the float32 graph: its index in `graph` (Casts come in between)
};
Expected<MixedGraph> applyPrecision(const ir::Graph& base, DataType low, const std::vector<bool>& lowNode);

}  // namespace kiln::passes

namespace kiln::passes {

/// Conv (with a constant bias) followed by Relu, or by Add of a same-shaped tensor and then Relu, becomes one Conv
/// with attribute activation="Relu", the residual as input 3 and the fused node names in "fused_nodes"
/// (cuDNN's y = relu(conv(x) + z + bias)). Only for backends that implement that form (CUDA).
/// With `graphApiForms` (run after the NHWC pass), NHWC convolutions of group 1 also take the forms only cuDNN's graph
/// API runs: activation LeakyRelu and Elu (activation_alpha), Sigmoid, Silu (x*sigmoid(x)
/// or Swish), Tanh, Gelu, GeluTanh, HardSwish, HardSigmoid (activation_alpha, activation_beta), Clip with constant
/// bounds (activation_min, activation_max; an absent bound is infinite), and a residual Add with no activation
/// (activation="Identity").
Expected<int> fuseConvEpilogues(ir::Graph& graph, bool graphApiForms = false);

}  // namespace kiln::passes

namespace kiln::passes {

/// Channels-last for convolution networks (CUDA FP16 builds): Conv, MaxPool, AveragePool and the global pools get
/// data_format="NHWC" (Conv weights re-laid out as [K,R,S,C]); elementwise ops between them follow; Transposes are
/// inserted only where an NCHW consumer, or the graph's edge, meets an NHWC value. Returns the nodes converted.
Expected<int> convertToNhwc(ir::Graph& graph);

}  // namespace kiln::passes

namespace kiln::passes {

/// Chains and trees of float32/float16 elementwise ops (Add, Mul, Erf, Sigmoid, Clip, Gelu, ... see
/// fuse_elementwise.cpp) whose intermediates are read only inside the chain become one FusedElementwise node
/// (ops/fused_elementwise_program.h), at least two ops each. Values of the host shape program stay as they are.
/// Run it after the other fusions and layout passes. Returns the number of fused nodes made.
Expected<int> fuseElementwiseChains(ir::Graph& graph);

}  // namespace kiln::passes

namespace kiln::passes {

/// Gemm (no C, or beta 1 and C a [N] or [1,N] vector) or MatMul whose B is one constant [K,N] matrix, followed by
/// an Add of a constant [N] or [1,N] float vector (the bias; either operand order; MatMul, or Gemm with no C and
/// alpha 1) and/or Relu or Gelu(approximate="tanh"), becomes one node: MatMul gains the bias as input 2, Gemm as C
/// (beta 1); the activation goes into attribute "activation" ("Relu", "GeluTanh"), the removed nodes' names into
/// "fused_nodes" (cuBLASLt's BIAS/RELU/GELU epilogues; its GELU is the tanh form, so exact Gelu is not fused).
/// float32/float16/bfloat16 only; an intermediate read elsewhere or a graph output blocks that step. Only for backends
/// that implement that form (CUDA). Returns the number of nodes that absorbed something.
Expected<int> fuseGemmEpilogues(ir::Graph& graph);

}  // namespace kiln::passes

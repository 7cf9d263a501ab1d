// The closed set of operators kiln's IR knows. Adding one: append here (and to kOpKindNames in op_kind.cpp),
// then the compiler lists every switch that still needs it (importer, shape inference, each backend).
#pragma once

#include <optional>
#include <string_view>

namespace kiln::ir {

#define KILN_FOR_EACH_OP(X)                                                                                     \
  /* elementwise binary */ X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Mod) X(Max) X(Min) X(Equal) X(Greater)          \
  X(GreaterOrEqual) X(Less) X(LessOrEqual) X(And) X(Or) X(Xor) X(PRelu)                                           \
  X(Sum) X(Mean) X(BitShift) X(BitwiseAnd) X(BitwiseOr) X(BitwiseXor)                                            \
  /* elementwise unary */ X(Relu) X(Sigmoid) X(Tanh) X(Erf) X(Exp) X(Log) X(Sqrt) X(Reciprocal) X(Abs) X(Neg)   \
  X(Not) X(IsNaN) X(IsInf) X(HardSigmoid) X(HardSwish) X(LeakyRelu) X(Gelu) X(Clip) X(Elu) X(Selu) X(Celu)      \
  X(Softplus) X(Softsign) X(Mish) X(ThresholdedRelu) X(Ceil) X(Floor) X(Round) X(Sign) X(Sin) X(Cos) X(Tan)     \
  X(Asin) X(Acos) X(Atan) X(Sinh) X(Cosh) X(Asinh) X(Acosh) X(Atanh) X(Cast) X(Identity) X(Where)               \
  X(CastLike) X(BitwiseNot) X(Shrink) X(Swish)                                                                   \
  /* linear algebra and convolution */ X(Conv) X(ConvTranspose) X(Gemm) X(MatMul)                               \
  X(MaxPool) X(AveragePool) X(GlobalAveragePool) X(GlobalMaxPool)                                                \
  /* normalization */ X(BatchNormalization) X(LayerNormalization) X(InstanceNormalization)                       \
  X(GroupNormalization) X(Softmax) X(LogSoftmax)                                                                 \
  /* reductions */ X(ReduceMean) X(ReduceSum) X(ReduceMax) X(ReduceMin) X(ReduceProd) X(ReduceL2)               \
  X(ReduceL1) X(ReduceSumSquare) X(ReduceLogSumExp) X(ArgMax) X(ArgMin) X(CumSum)                               \
  X(ReduceLogSum) X(CumProd)                                                                                     \
  /* data movement */ X(Reshape) X(Flatten) X(Squeeze) X(Unsqueeze) X(Transpose) X(Concat) X(Split) X(Slice)    \
  X(Gather) X(GatherElements) X(GatherND) X(ScatterND) X(ScatterElements) X(Expand) X(Tile) X(Pad) X(Resize)   \
  X(DepthToSpace) X(SpaceToDepth) X(Trilu)                                                                       \
  X(OneHot) X(ReverseSequence) X(Compress)                                                                       \
  /* shape and generators */ X(Shape) X(Size) X(ConstantOfShape) X(Range) X(Constant) X(EyeLike)              \
  /* misc: selection, losses, extra normalizations, recurrent */ X(Hardmax) X(TopK) X(Einsum) X(LRN)            \
  X(LpNormalization) X(MeanVarianceNormalization) X(RMSNormalization) X(NegativeLogLikelihoodLoss)              \
  X(SoftmaxCrossEntropyLoss) X(Det) X(NonZero) X(Unique) X(RNN) X(GRU) X(LSTM)                                \
  /* kiln-internal, made by passes and never imported from ONNX */ X(FusedElementwise)                          \
  /* data-dependent output sizes (appended) */ X(NonMaxSuppression)                                               \
  /* quantization (appended) */ X(QuantizeLinear) X(DequantizeLinear)                                           \
  /* attention (appended; kiln-internal, ONNX Attention imports onto it) */ X(FusedAttention) \
  /* control flow (appended; the subgraphs live in Node::subgraphs, passes/inline_control_flow.cpp inlines) */ X(If) X(Loop)

enum class OpKind : int {
#define KILN_OP_ENUM(name) k##name,
  KILN_FOR_EACH_OP(KILN_OP_ENUM)
#undef KILN_OP_ENUM
};

/// ONNX op_type spelling, e.g. "Conv".
std::string_view opKindName(OpKind kind);
/// Maps an ONNX op_type (default domain) to the enum; nullopt when kiln has no such op.
std::optional<OpKind> opKindFromName(std::string_view name);
/// Number of OpKind values (for table sizes and engine-file validation).
int opKindCount();

}  // namespace kiln::ir

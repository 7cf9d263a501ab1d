// op kind → importer. A switch with no default: a new OpKind does not compile until it has a line here.
#include "onnx/importer_table.h"

namespace kiln::onnx {

using ir::OpKind;

ImportFn importerFor(OpKind kind) {
  switch (kind) {
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kPow: case OpKind::kMod:
    case OpKind::kMax: case OpKind::kMin: case OpKind::kEqual: case OpKind::kGreater: case OpKind::kGreaterOrEqual:
    case OpKind::kLess: case OpKind::kLessOrEqual: case OpKind::kAnd: case OpKind::kOr: case OpKind::kXor:
    case OpKind::kPRelu: case OpKind::kRelu: case OpKind::kSigmoid: case OpKind::kTanh: case OpKind::kErf:
    case OpKind::kExp: case OpKind::kLog: case OpKind::kSqrt: case OpKind::kReciprocal: case OpKind::kAbs:
    case OpKind::kNeg: case OpKind::kNot: case OpKind::kIsNaN: case OpKind::kIsInf: case OpKind::kHardSigmoid:
    case OpKind::kHardSwish: case OpKind::kLeakyRelu: case OpKind::kGelu: case OpKind::kElu: case OpKind::kSelu:
    case OpKind::kCelu: case OpKind::kSoftplus: case OpKind::kSoftsign: case OpKind::kMish:
    case OpKind::kThresholdedRelu: case OpKind::kCeil: case OpKind::kFloor: case OpKind::kRound: case OpKind::kSign:
    case OpKind::kSin: case OpKind::kCos: case OpKind::kTan: case OpKind::kAsin: case OpKind::kAcos:
    case OpKind::kAtan: case OpKind::kSinh: case OpKind::kCosh: case OpKind::kAsinh: case OpKind::kAcosh:
    case OpKind::kAtanh: case OpKind::kWhere: case OpKind::kConv: case OpKind::kConvTranspose: case OpKind::kGemm:
    case OpKind::kMatMul: case OpKind::kMaxPool: case OpKind::kAveragePool: case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool: case OpKind::kBatchNormalization: case OpKind::kLayerNormalization:
    case OpKind::kInstanceNormalization: case OpKind::kGroupNormalization: case OpKind::kSoftmax:
    case OpKind::kLogSoftmax: case OpKind::kArgMax: case OpKind::kArgMin: case OpKind::kCumSum:
    case OpKind::kReshape: case OpKind::kFlatten: case OpKind::kTranspose: case OpKind::kConcat: case OpKind::kSlice:
    case OpKind::kGather: case OpKind::kGatherElements: case OpKind::kGatherND: case OpKind::kScatterND:
    case OpKind::kScatterElements: case OpKind::kExpand: case OpKind::kTile: case OpKind::kDepthToSpace:
    case OpKind::kTrilu: case OpKind::kShape: case OpKind::kSize:
    case OpKind::kConstantOfShape: case OpKind::kRange: case OpKind::kSpaceToDepth:
      return &importAsIs;
    case OpKind::kClip:
      return &importClip;
    case OpKind::kCast:
      return &importCast;
    case OpKind::kIdentity:
      return &importIdentityOrDropout;
    case OpKind::kReduceMean: case OpKind::kReduceSum: case OpKind::kReduceMax: case OpKind::kReduceMin:
    case OpKind::kReduceProd: case OpKind::kReduceL2: case OpKind::kReduceL1: case OpKind::kReduceSumSquare:
    case OpKind::kReduceLogSumExp: case OpKind::kReduceLogSum:
      return &importReduce;
    case OpKind::kSum: case OpKind::kMean: case OpKind::kBitShift: case OpKind::kBitwiseAnd: case OpKind::kBitwiseOr:
    case OpKind::kBitwiseXor: case OpKind::kCastLike: case OpKind::kBitwiseNot: case OpKind::kShrink:
    case OpKind::kSwish: case OpKind::kCumProd: case OpKind::kOneHot: case OpKind::kReverseSequence:
    case OpKind::kCompress: case OpKind::kEyeLike: case OpKind::kHardmax: case OpKind::kTopK: case OpKind::kEinsum:
    case OpKind::kLRN: case OpKind::kLpNormalization: case OpKind::kMeanVarianceNormalization:
    case OpKind::kRMSNormalization: case OpKind::kNegativeLogLikelihoodLoss: case OpKind::kSoftmaxCrossEntropyLoss:
    case OpKind::kDet: case OpKind::kNonZero: case OpKind::kUnique: case OpKind::kRNN: case OpKind::kGRU:
    case OpKind::kLSTM: case OpKind::kNonMaxSuppression:
      return &importAsIs;
    case OpKind::kSqueeze: case OpKind::kUnsqueeze:
      return &importSqueezeUnsqueeze;
    case OpKind::kSplit:
      return &importSplit;
    case OpKind::kPad:
      return &importPad;
    case OpKind::kResize:
      return &importResize;
    case OpKind::kConstant:
      return &importConstantNode;
    case OpKind::kFusedElementwise:  // kiln-internal: opKindForOnnx never yields it
      return &importAsIs;
    case OpKind::kFusedAttention:  // ONNX Attention (opset 23) imports onto it
      return &importAttention;
    case OpKind::kQuantizeLinear: case OpKind::kDequantizeLinear:  // attributes checked in ops/quantization.cpp
      return &importAsIs;
    case OpKind::kIf: case OpKind::kLoop:  // their subgraphs were imported by onnx/subgraph_import.cpp
      return &importAsIs;
  }
  return &importAsIs;
}

std::optional<OpKind> opKindForOnnx(const std::string& opType) {
  // Dropout is an identity at inference; its importer checks that nothing needs the mask.
  if (opType == "Dropout") return OpKind::kIdentity;
  const auto kind = ir::opKindFromName(opType);
  // Ops that only kiln's passes create are not ONNX operators: a model naming one is unsupported like any unknown op.
  if (kind == OpKind::kFusedElementwise) return std::nullopt;
  if (opType == "Attention") return OpKind::kFusedAttention;
  if (kind == OpKind::kFusedAttention) return std::nullopt;
  return kind;
}

}  // namespace kiln::onnx

// One function per op family; each family file switches over its own ops. Registration is the switch in
// shape_inference.cpp (DESIGN.md rule 2: no static-initializer magic).
#pragma once

#include "ops/shape_inference.h"

namespace kiln::ops {

using InferResult = Expected<std::vector<TensorInfo>>;

InferResult inferElementwise(const InferenceCall& call);    // ops/elementwise.cpp
InferResult inferLinalg(const InferenceCall& call);         // ops/linalg.cpp: Conv, Gemm, MatMul, pools
InferResult inferNormalization(const InferenceCall& call);  // ops/normalization.cpp: BatchNorm, LayerNorm, Softmax
InferResult inferReduction(const InferenceCall& call);      // ops/reduction.cpp
InferResult inferDataMovement(const InferenceCall& call);   // ops/data_movement.cpp
InferResult inferGenerator(const InferenceCall& call);      // ops/generators.cpp: Shape, Range, ConstantOfShape
InferResult inferMisc(const InferenceCall& call);           // ops/misc*.cpp: TopK, Hardmax, losses, LRN, RNNs...
InferResult inferAttention(const InferenceCall& call);      // ops/attention.cpp: FusedAttention
InferResult inferQuantization(const InferenceCall& call);   // ops/quantization.cpp: QuantizeLinear, DequantizeLinear

}  // namespace kiln::ops

namespace kiln::ops {

enum class OpFamily {
  kElementwise, kLinalg, kNormalization, kReduction, kDataMovement, kGenerator, kMisc, kQuantization, kAttention
};

/// The family that owns `kind` (a switch with no default: a new OpKind must be placed).
OpFamily familyOf(ir::OpKind kind);

// Each family says which of its ops it implements today (shape inference and CPU reference both).
bool elementwiseImplements(ir::OpKind kind);
bool linalgImplements(ir::OpKind kind);
bool normalizationImplements(ir::OpKind kind);
bool reductionImplements(ir::OpKind kind);
bool dataMovementImplements(ir::OpKind kind);
bool generatorImplements(ir::OpKind kind);
bool miscImplements(ir::OpKind kind);
bool quantizationImplements(ir::OpKind kind);
bool attentionImplements(ir::OpKind kind);

}  // namespace kiln::ops

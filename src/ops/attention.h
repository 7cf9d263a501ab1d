// FusedAttention (kiln-internal; also what ONNX's Attention, opset 23, imports onto): the geometry every backend walks.
// Y = softmax(scale * Q K^T + mask [+ causal]) V, row by row, with softmax over the keys.
//
// Inputs: 0 Q, 1 K, 2 V, 3 mask (optional: bool, true = attend, or additive in Q's type). Attributes: scale (float;
// default 1/sqrt(head dim)), is_causal (int; key j attends to query i only when j <= i, the top-left alignment of torch
// and ONNX), q_num_heads / kv_num_heads (ints; when set, Q/K/V are 3-D [B, S, heads * D] with heads packed in the last
// dim, as ONNX Attention allows; ignored for 4-D operands), zero_masked_rows (int; a row whose softmax sum is zero or
// NaN yields 0, the Where(IsNaN(p), 0, p) the dynamo exporter writes after a boolean mask; otherwise such a row is NaN,
// as Softmax of all -inf is), fused_nodes (strings; the names of what the pass fused).
//
// Layouts: 4-D mode takes Q [Bq,Hq,Sq,D], K [Bk,Hk,Sk,D], V [Bv,Hv,Sk,Dv] (ranks 2 to 4, missing leading dims are 1,
// right-aligned as MatMul broadcasts); the output's batch and heads are the broadcast of all inputs' (and the mask's).
// A K/V head count of 1 broadcasts; a divisor of the query heads groups them (GQA: query head h reads K/V head
// h / (H / Hk)). The mask broadcasts to [B, H, Sq, Sk] (each dim 1 or equal). Output [B, H, Sq, Dv], with the rank of
// the highest-ranked input.
#pragma once

#include <cstdint>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ir {
struct Node;
}

namespace kiln::ops {

/// Element strides of one operand over (batch, head, row); its last dim is contiguous. A broadcast dim has stride 0.
struct AttentionStrides {
  int64_t batch = 0, head = 0, row = 0;
};

enum class AttentionMask : int32_t { kNone = 0, kBool = 1, kAdditive = 2 };

struct AttentionGeometry {
  int64_t batch = 1, heads = 1, queries = 1, keys = 1, headDim = 1, valueDim = 1;
  /// K/V head of query head h: h / kvGroup (kvGroup = heads when K/V have one head; 1 when they have all).
  int64_t kGroup = 1, vGroup = 1;
  AttentionStrides q, k, v, out;
  AttentionMask maskKind = AttentionMask::kNone;
  /// Mask strides over (batch, head, query, key); all 0 where it broadcasts.
  int64_t maskBatch = 0, maskHead = 0, maskQuery = 0, maskKey = 0;
  float scale = 1.f;
  bool causal = false;
  bool zeroMaskedRows = false;
  Dims outputDims;
};

/// Checks the operands' shapes against the node's attributes and returns the walk; errors start with `where`, name the
/// input and dimension, and say what was expected. `mask` is null when absent.
Expected<AttentionGeometry> attentionGeometry(const ir::Node& node, const Dims& q, const Dims& k, const Dims& v,
                                              const Dims* mask, DataType maskType, const std::string& where);

}  // namespace kiln::ops

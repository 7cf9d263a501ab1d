// FusedAttention: attribute validation, the operands' geometry (ops/attention.h) and output shape inference.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <variant>

#include "ops/families.h"

namespace kiln::ops {
namespace {

constexpr const char* kOperandNames[] = {"Q", "K", "V", "mask"};

/// The mask's dims, right-aligned to [batch, heads, queries, keys].
std::string maskDimName(int axis) {
  static const char* names[] = {"batch", "heads", "queries", "keys"};
  return names[axis];
}

/// Broadcasts one leading dim (batch or heads): every operand's is 1 or the common value.
Status joinDim(int64_t& common, int64_t dim, const char* operand, const std::string& what, const std::string& where) {
  if (dim == 1 || dim == common) return Status::ok();
  if (common == 1) {
    common = dim;
    return Status::ok();
  }
  return invalidModel(where + operand + "'s " + what + " is " + std::to_string(dim) +
                      ", which does not broadcast with " + std::to_string(common));
}

/// A 4-D view [b, h, s, d] of a 2- to 4-D operand (missing leading dims are 1).
Expected<Dims> padTo4(const Dims& d, const char* operand, const std::string& where) {
  if (d.size() < 2 || d.size() > 4)
    return invalidModel(where + operand + " has rank " + std::to_string(d.size()) + " (" + dimsToString(d) +
                        "), expected 2 to 4");
  Dims out(4 - d.size(), 1);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

AttentionStrides contiguousStrides4(const Dims& d4) {
  AttentionStrides s;
  s.row = d4[3];
  s.head = d4[2] * d4[3];
  s.batch = d4[1] * s.head;
  if (d4[0] == 1) s.batch = 0;
  if (d4[1] == 1) s.head = 0;
  return s;
}

/// K/V heads against the query heads: equal, one (broadcast), or a divisor (grouped-query attention).
Expected<int64_t> headGroup(int64_t heads, int64_t kvHeads, const char* operand, const std::string& where) {
  if (kvHeads == heads) return int64_t{1};
  if (kvHeads == 1) return heads;
  if (kvHeads > 0 && heads % kvHeads == 0) return heads / kvHeads;
  return invalidModel(where + operand + " has " + std::to_string(kvHeads) + " heads, which neither broadcasts to nor " +
                      "divides the " + std::to_string(heads) + " query heads");
}

Status geometry4d(AttentionGeometry& g, const Dims& qd, const Dims& kd, const Dims& vd, const std::string& where,
                  int64_t& rank) {
  KILN_ASSIGN_OR_RETURN(const Dims q, padTo4(qd, "Q", where));
  KILN_ASSIGN_OR_RETURN(const Dims k, padTo4(kd, "K", where));
  KILN_ASSIGN_OR_RETURN(const Dims v, padTo4(vd, "V", where));
  rank = static_cast<int64_t>(std::max({qd.size(), kd.size(), vd.size()}));
  if (k[3] != q[3])
    return invalidModel(where + "K's head size is " + std::to_string(k[3]) + " (shape " + dimsToString(kd) +
                        "), Q's is " + std::to_string(q[3]) + " (shape " + dimsToString(qd) + "); they must match");
  if (v[2] != k[2])
    return invalidModel(where + "V has " + std::to_string(v[2]) + " rows (shape " + dimsToString(vd) + "), K has " +
                        std::to_string(k[2]) + " keys (shape " + dimsToString(kd) + "); they must match");
  g.batch = q[0];
  KILN_RETURN_IF_ERROR(joinDim(g.batch, k[0], "K", "batch", where));
  KILN_RETURN_IF_ERROR(joinDim(g.batch, v[0], "V", "batch", where));
  // Query heads lead; a broadcast Q (one head) takes K's head count, which then must match V's in the GQA sense.
  g.heads = q[1] != 1 ? q[1] : std::max(k[1], v[1]);
  KILN_ASSIGN_OR_RETURN(g.kGroup, headGroup(g.heads, k[1], "K", where));
  KILN_ASSIGN_OR_RETURN(g.vGroup, headGroup(g.heads, v[1], "V", where));
  g.queries = q[2];
  g.keys = k[2];
  g.headDim = q[3];
  g.valueDim = v[3];
  g.q = contiguousStrides4(q);
  g.k = contiguousStrides4(k);
  g.v = contiguousStrides4(v);
  if (k[1] == 1) g.kGroup = g.heads;
  if (v[1] == 1) g.vGroup = g.heads;
  return Status::ok();
}

/// 3-D mode: [B, S, heads * D] with the heads packed in the last dim (ONNX Attention with q_num_heads/kv_num_heads).
Status geometry3d(AttentionGeometry& g, const ir::Node& node, const Dims& q, const Dims& k, const Dims& v,
                  const std::string& where) {
  const int64_t qHeads = node.attrs.getInt("q_num_heads", 0), kvHeads = node.attrs.getInt("kv_num_heads", 0);
  for (int i = 0; i < 3; ++i) {
    const Dims& d = i == 0 ? q : i == 1 ? k : v;
    if (d.size() != 3)
      return invalidModel(where + kOperandNames[i] + " has shape " + dimsToString(d) +
                          "; with q_num_heads/kv_num_heads set, Q, K and V are "
                          "3-D [batch, sequence, heads * size]");
  }
  if (qHeads < 1 || kvHeads < 1)
    return invalidModel(where + "3-D Q/K/V need attributes q_num_heads and kv_num_heads >= 1 (found " +
                        std::to_string(qHeads) + ", " + std::to_string(kvHeads) + ")");
  if (q[2] % qHeads != 0 || k[2] % kvHeads != 0 || v[2] % kvHeads != 0)
    return invalidModel(where + "hidden sizes " + std::to_string(q[2]) + " (Q), " + std::to_string(k[2]) + " (K), " +
                        std::to_string(v[2]) + " (V) are not multiples of q_num_heads " + std::to_string(qHeads) +
                        " and kv_num_heads " + std::to_string(kvHeads));
  if (q[0] != k[0] || q[0] != v[0])
    return invalidModel(where + "Q, K and V batch sizes differ: " + dimsToString(q) + ", " + dimsToString(k) + ", " +
                        dimsToString(v));
  if (k[1] != v[1])
    return invalidModel(where + "K has " + std::to_string(k[1]) + " keys and V " + std::to_string(v[1]) + " rows");
  g.batch = q[0];
  g.heads = qHeads;
  g.queries = q[1];
  g.keys = k[1];
  g.headDim = q[2] / qHeads;
  g.valueDim = v[2] / kvHeads;
  if (k[2] / kvHeads != g.headDim)
    return invalidModel(where + "K's head size " + std::to_string(k[2] / kvHeads) + " differs from Q's " +
                        std::to_string(g.headDim));
  KILN_ASSIGN_OR_RETURN(g.kGroup, headGroup(qHeads, kvHeads, "K", where));
  g.vGroup = g.kGroup;
  const auto packed = [](const Dims& d, int64_t size) {
    return AttentionStrides{d[0] == 1 ? 0 : d[1] * d[2], size, d[2]};
  };
  g.q = packed(q, g.headDim);
  g.k = packed(k, g.headDim);
  g.v = packed(v, g.valueDim);
  return Status::ok();
}

}  // namespace

Expected<AttentionGeometry> attentionGeometry(const ir::Node& node, const Dims& q, const Dims& k, const Dims& v,
                                              const Dims* mask, DataType maskType, const std::string& where) {
  AttentionGeometry g;
  // ONNX Attention may carry the head counts with 4-D operands too; only 3-D ones are packed.
  const bool packed = (node.attrs.has("q_num_heads") || node.attrs.has("kv_num_heads")) && q.size() == 3;
  int64_t rank = 3;
  if (packed)
    KILN_RETURN_IF_ERROR(geometry3d(g, node, q, k, v, where));
  else
    KILN_RETURN_IF_ERROR(geometry4d(g, q, k, v, where, rank));

  if (mask) {
    if (mask->size() > 4)
      return invalidModel(where + "mask has rank " + std::to_string(mask->size()) + ", expected at most 4");
    Dims m(4 - mask->size(), 1);
    m.insert(m.end(), mask->begin(), mask->end());
    if (!packed) {  // the mask may widen the output's batch and heads, as the
                    // Add it came from did
      KILN_RETURN_IF_ERROR(joinDim(g.batch, m[0], "mask", "batch", where));
      const int64_t heads = g.heads;
      KILN_RETURN_IF_ERROR(joinDim(g.heads, m[1], "mask", "heads", where));
      if (heads == 1 && g.heads != 1) {  // every operand had one head: they all broadcast
        g.kGroup = g.heads;
        g.vGroup = g.heads;
      }
      rank = std::max<int64_t>(rank, static_cast<int64_t>(mask->size()));
    }
    const int64_t want[4] = {g.batch, g.heads, g.queries, g.keys};
    for (int i = 0; i < 4; ++i)
      if (m[i] != 1 && m[i] != want[i])
        return invalidModel(where + "mask has shape " + dimsToString(*mask) + ", which does not broadcast to [" +
                            std::to_string(g.batch) + "," + std::to_string(g.heads) + "," + std::to_string(g.queries) +
                            "," + std::to_string(g.keys) + "] (its " + maskDimName(i) + " dim" + " is " +
                            std::to_string(m[i]) + ")");
    g.maskKey = m[3] == 1 ? 0 : 1;
    g.maskQuery = m[2] == 1 ? 0 : m[3];
    g.maskHead = m[1] == 1 ? 0 : m[2] * m[3];
    g.maskBatch = m[0] == 1 ? 0 : m[1] * m[2] * m[3];
    g.maskKind = maskType == DataType::kBool ? AttentionMask::kBool : AttentionMask::kAdditive;
  }
  g.causal = node.attrs.getInt("is_causal", 0) != 0;
  g.zeroMaskedRows = node.attrs.getInt("zero_masked_rows", 0) != 0;
  g.scale = node.attrs.has("scale") ? node.attrs.getFloat("scale", 1.f)
                                    : static_cast<float>(1.0 / std::sqrt(static_cast<double>(g.headDim)));
  if (packed) {
    g.outputDims = {g.batch, g.queries, g.heads * g.valueDim};
    g.out = {g.queries * g.heads * g.valueDim, g.valueDim, g.heads * g.valueDim};
  } else {
    const Dims full = {g.batch, g.heads, g.queries, g.valueDim};
    g.outputDims.assign(full.end() - rank, full.end());
    g.out = {g.heads * g.queries * g.valueDim, g.queries * g.valueDim, g.valueDim};
  }
  return g;
}

InferResult inferAttention(const InferenceCall& call) {
  const std::string where = call.where();
  if (call.node.op != ir::OpKind::kFusedAttention) return internalError(where + "not an attention op");
  if (call.inputs.size() < 3 || call.inputs.size() > 4)
    return invalidModel(where + "has " + std::to_string(call.inputs.size()) + " inputs, expected 3 (Q, K, V) or 4 " +
                        "(and a mask)");
  if (call.node.outputs.size() != 1)
    return unsupported(where + "has " + std::to_string(call.node.outputs.size()) + " outputs; kiln produces only Y");
  for (const char* name : {"scale"}) {
    auto it = call.node.attrs.all().find(name);
    if (it != call.node.attrs.all().end() && !std::holds_alternative<float>(it->second))
      return invalidModel(where + "attribute '" + name + "' must be a float");
  }
  const DataType type = call.inputs[0].dtype;
  for (size_t i = 0; i < 3; ++i) {
    if (!call.inputs[i].present())
      return invalidModel(where + kOperandNames[i] + " (input " + std::to_string(i) + ") is required");
    const DataType t = call.inputs[i].dtype;
    if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16)
      return unsupported(where + kOperandNames[i] + " has dtype " + dataTypeName(t) +
                         ", only float32, float16 and bfloat16 are supported");
    if (t != type)
      return invalidModel(where + kOperandNames[i] + " has dtype " + dataTypeName(t) + ", Q has " + dataTypeName(type));
  }
  const bool hasMask = call.inputs.size() > 3 && call.inputs[3].present();
  const DataType maskType = hasMask ? call.inputs[3].dtype : DataType::kUndefined;
  if (hasMask && maskType != DataType::kBool && maskType != type)
    return invalidModel(where + "mask has dtype " + dataTypeName(maskType) + "; expected bool or Q's type " +
                        dataTypeName(type));
  KILN_ASSIGN_OR_RETURN(const AttentionGeometry g,
                        attentionGeometry(call.node, call.inputs[0].dims, call.inputs[1].dims, call.inputs[2].dims,
                                          hasMask ? &call.inputs[3].dims : nullptr, maskType, where));
  return std::vector<TensorInfo>{{type, g.outputDims}};
}

bool attentionImplements(ir::OpKind kind) { return kind == ir::OpKind::kFusedAttention; }

}  // namespace kiln::ops

// Shared by fuse_attention_test.cpp (CPU) and gpu/attention_gpu_test.cpp: the attention subgraphs torch's exporters
// write (as seen in real exports of F.scaled_dot_product_attention, nn.MultiheadAttention and a BERT-style
// self-attention from torch 2.11, legacy opset 17 and dynamo opset 18), and an independent float64 reference of
// softmax(scale * Q K^T + mask) V. Header-only.
#pragma once

#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "unit/fused_elementwise_graphs.h"

namespace kiln::attentiontest {

using fusedtest::attrs;
using fusedtest::GraphBuilder;
using ir::OpKind;
using ir::ValueId;

struct Shape {
  int64_t batch = 1, heads = 1, queries = 1, keys = 1, dim = 8;
};

enum class Mask { kNone, kPadding /* additive [B,1,1,Sk] */, kFull /* additive [B,1,Sq,Sk] */, kCausalConstant };

inline ValueId int64Constant(GraphBuilder& b, const std::vector<int64_t>& v) {
  Tensor t = Tensor::allocate(DataType::kInt64, {static_cast<int64_t>(v.size())}).value();
  for (size_t i = 0; i < v.size(); ++i) t.dataAs<int64_t>()[i] = v[i];
  return b.g.addConstant("shape" + std::to_string(b.counter++), std::move(t));
}

inline ValueId boolInput(GraphBuilder& b, const std::string& name, Dims dims) {
  const ValueId v = b.g.addValue(name, DataType::kBool);
  b.g.values[v].rankKnown = true;
  b.g.values[v].dims = std::move(dims);
  b.g.inputs.push_back(v);
  return v;
}

/// A constant causal mask [Sq, Sk]: 0 where key j <= query i, -inf above (what the dynamo exporter folds is_causal into
/// at static shapes).
inline ValueId causalConstant(GraphBuilder& b, const Shape& s) {
  std::vector<double> m(static_cast<size_t>(s.queries * s.keys));
  for (int64_t i = 0; i < s.queries; ++i)
    for (int64_t j = 0; j < s.keys; ++j) m[i * s.keys + j] = j <= i ? 0.0 : -INFINITY;
  return b.constant(m, {s.queries, s.keys});
}

inline ValueId addMask(GraphBuilder& b, ValueId scores, const Shape& s, Mask mask, bool maskLeft = false) {
  ValueId m = ir::kNoValue;
  if (mask == Mask::kPadding) m = b.input("mask", {s.batch, 1, 1, s.keys});
  if (mask == Mask::kFull) m = b.input("mask", {s.batch, 1, s.queries, s.keys});
  if (mask == Mask::kCausalConstant) m = causalConstant(b, s);
  if (m == ir::kNoValue) return scores;
  return b.op(OpKind::kAdd, maskLeft ? std::vector<ValueId>{m, scores} : std::vector<ValueId>{scores, m}, {},
              "mask_add");
}

inline ValueId softmaxAndValues(GraphBuilder& b, ValueId scores, ValueId v) {
  const ValueId p = b.op(OpKind::kSoftmax, {scores}, attrs({{"axis", int64_t{-1}}}), "softmax");
  return b.op(OpKind::kMatMul, {p, v}, {}, "attention_out");
}

/// Legacy exporter, BERT style: K arrives as the [B,S,H,D] view and Transpose(perm [0,2,3,1]) makes K^T; the scores are
/// divided by sqrt(D) after the MatMul.
inline GraphBuilder legacyBert(const Shape& s, Mask mask) {
  GraphBuilder b;
  const ValueId q = b.input("q", {s.batch, s.heads, s.queries, s.dim});
  const ValueId k = b.input("k", {s.batch, s.keys, s.heads, s.dim});
  const ValueId v = b.input("v", {s.batch, s.heads, s.keys, s.dim});
  const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 2, 3, 1}}}), "k_transpose");
  const ValueId scores = b.op(OpKind::kMatMul, {q, kt}, {}, "scores");
  const ValueId scaled = b.op(OpKind::kDiv, {scores, b.scalar(std::sqrt(static_cast<double>(s.dim)))}, {}, "scale_div");
  b.output(softmaxAndValues(b, addMask(b, scaled, s, mask), v));
  return b;
}

/// Legacy exporter, F.scaled_dot_product_attention: sqrt(scale) multiplies Q and, after Transpose(perm [0,1,3,2]), K^T;
/// the mask is added after the MatMul (on the left when maskLeft).
inline GraphBuilder legacySdpa(const Shape& s, Mask mask, double scale, bool maskLeft = false) {
  GraphBuilder b;
  const ValueId q = b.input("q", {s.batch, s.heads, s.queries, s.dim});
  const ValueId k = b.input("k", {s.batch, s.heads, s.keys, s.dim});
  const ValueId v = b.input("v", {s.batch, s.heads, s.keys, s.dim});
  const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}), "k_transpose");
  const ValueId root = b.constant({std::sqrt(scale)}, {1});
  const ValueId qs = b.op(OpKind::kMul, {q, root}, {}, "q_scale");
  const ValueId ks = b.op(OpKind::kMul, {kt, root}, {}, "k_scale");
  const ValueId scores = b.op(OpKind::kMatMul, {qs, ks}, {}, "scores");
  b.output(softmaxAndValues(b, addMask(b, scores, s, mask, maskLeft), v));
  return b;
}

/// Dynamo exporter: K^T = Reshape(k, [-1,Sk,D]) -> Transpose [0,2,1] -> Reshape [B,H,D,Sk], then Mul by sqrt(scale) on
/// both sides. With `boolMask`, a bool [B,1,Sq,Sk] input becomes Where(m, 0, -FLT_MAX) added to the scores, and
/// Where(IsNaN(p), 0, p) follows the softmax.
inline GraphBuilder dynamoSdpa(const Shape& s, Mask mask, bool boolMask = false) {
  GraphBuilder b;
  const ValueId q = b.input("q", {s.batch, s.heads, s.queries, s.dim});
  const ValueId k = b.input("k", {s.batch, s.heads, s.keys, s.dim});
  const ValueId v = b.input("v", {s.batch, s.heads, s.keys, s.dim});
  const ValueId r1 = b.op(OpKind::kReshape, {k, int64Constant(b, {-1, s.keys, s.dim})}, {}, "k_reshape");
  const ValueId t = b.op(OpKind::kTranspose, {r1}, attrs({{"perm", std::vector<int64_t>{0, 2, 1}}}), "k_transpose");
  const ValueId kt = b.op(OpKind::kReshape, {t, int64Constant(b, {s.batch, s.heads, s.dim, s.keys})}, {}, "k_reshape2");
  const ValueId root = b.constant({std::sqrt(1.0 / std::sqrt(static_cast<double>(s.dim)))}, {1});
  const ValueId qs = b.op(OpKind::kMul, {q, root}, {}, "q_scale");
  const ValueId ks = b.op(OpKind::kMul, {kt, root}, {}, "k_scale");
  ValueId scores = b.op(OpKind::kMatMul, {qs, ks}, {}, "scores");
  if (boolMask) {
    const ValueId m = boolInput(b, "bool_mask", {s.batch, 1, s.queries, s.keys});
    const ValueId additive = b.op(OpKind::kWhere, {m, b.scalar(0), b.scalar(-FLT_MAX)}, {}, "mask_where");
    scores = b.op(OpKind::kAdd, {scores, additive}, {}, "mask_add");
    const ValueId p = b.op(OpKind::kSoftmax, {scores}, attrs({{"axis", int64_t{-1}}}), "softmax");
    const ValueId nan = b.op(OpKind::kIsNaN, {p}, {}, "isnan");
    const ValueId cleaned = b.op(OpKind::kWhere, {nan, b.scalar(0), p}, {}, "nan_where");
    b.output(b.op(OpKind::kMatMul, {cleaned, v}, {}, "attention_out"));
    return b;
  }
  b.output(softmaxAndValues(b, addMask(b, scores, s, mask), v));
  return b;
}

/// Dynamo nn.MultiheadAttention: K is a [B*H, Sk, D] tensor; Transpose [0,2,1] then Reshape [B,H,D,Sk] make K^T, so the
/// fusion must reshape K to [B,H,Sk,D] itself.
inline GraphBuilder dynamoMha(const Shape& s) {
  GraphBuilder b;
  const ValueId q = b.input("q", {s.batch, s.heads, s.queries, s.dim});
  const ValueId k = b.input("k", {s.batch * s.heads, s.keys, s.dim});
  const ValueId v = b.input("v", {s.batch, s.heads, s.keys, s.dim});
  const ValueId t = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 2, 1}}}), "k_transpose");
  const ValueId kt = b.op(OpKind::kReshape, {t, int64Constant(b, {s.batch, s.heads, s.dim, s.keys})}, {}, "k_reshape");
  const ValueId root = b.constant({std::sqrt(1.0 / std::sqrt(static_cast<double>(s.dim)))}, {1});
  const ValueId scores =
      b.op(OpKind::kMatMul, {b.op(OpKind::kMul, {q, root}), b.op(OpKind::kMul, {kt, root})}, {}, "scores");
  b.output(softmaxAndValues(b, scores, v));
  return b;
}

/// Swin window attention: Q/K/V [B*nW, H, N, D] (s.batch = B*nW, queries = keys = N), scores scaled on Q, plus a
/// relative position bias [1,H,N,N] (`bias`), then with `windowMask` [mb, nW, 1, N, N] (mb 1, or B to vary with the
/// image): Reshape [B, nW, H, N, N] -> Add -> Reshape [B*nW, H, N, N], as both torch exporters write Swin's SW-MSA.
inline GraphBuilder swinWindows(const Shape& s, int64_t windows, const std::vector<double>& bias,
                                const std::vector<double>* windowMask, int64_t maskImages = 1) {
  GraphBuilder b;
  const ValueId q = b.input("q", {s.batch, s.heads, s.queries, s.dim});
  const ValueId k = b.input("k", {s.batch, s.heads, s.keys, s.dim});
  const ValueId v = b.input("v", {s.batch, s.heads, s.keys, s.dim});
  const ValueId qs = b.op(OpKind::kMul, {q, b.scalar(1 / std::sqrt(static_cast<double>(s.dim)))}, {}, "q_scale");
  const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}), "k_transpose");
  ValueId scores = b.op(OpKind::kMatMul, {qs, kt}, {}, "scores");
  scores = b.op(OpKind::kAdd, {scores, b.constant(bias, {1, s.heads, s.queries, s.keys})}, {}, "bias_add");
  if (windowMask) {
    const ValueId five =
        b.op(OpKind::kReshape, {scores, int64Constant(b, {-1, windows, s.heads, s.queries, s.keys})}, {}, "view");
    const ValueId masked = b.op(
        OpKind::kAdd, {five, b.constant(*windowMask, {maskImages, windows, 1, s.queries, s.keys})}, {}, "mask_add");
    scores = b.op(OpKind::kReshape, {masked, int64Constant(b, {-1, s.heads, s.queries, s.keys})}, {}, "view_back");
  }
  b.output(softmaxAndValues(b, scores, v));
  return b;
}

// ---- the float64 reference

/// Contents of a float32 (or bool) tensor as doubles.
inline std::vector<double> asDoubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.elementCount()));
  for (int64_t i = 0; i < t.elementCount(); ++i)
    out[i] = t.dtype() == DataType::kBool ? t.dataAs<uint8_t>()[i] : fusedtest::elementOf(t, i);
  return out;
}

/// softmax(scale * q k^T + mask(b,h,i,j)) v for Q [B,H,Sq,D] and accessors for K (b,h,j,d) and V (b,h,j,d), in
/// float64. `mask` returns the additive term (-inf to mask out). A row with nothing finite gives `emptyRow`.
inline std::vector<double> referenceAttentionPerHead(
    const Shape& s, const std::vector<double>& q, const std::function<double(int64_t, int64_t, int64_t, int64_t)>& k,
    const std::function<double(int64_t, int64_t, int64_t, int64_t)>& v,
    const std::function<double(int64_t, int64_t, int64_t, int64_t)>& mask, double scale, double emptyRow) {
  std::vector<double> out(static_cast<size_t>(s.batch * s.heads * s.queries * s.dim));
  std::vector<double> p(static_cast<size_t>(s.keys));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < s.queries; ++i) {
        double top = -INFINITY;
        for (int64_t j = 0; j < s.keys; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < s.dim; ++d) dot += q[((b * s.heads + h) * s.queries + i) * s.dim + d] * k(b, h, j, d);
          p[j] = scale * dot + (mask ? mask(b, h, i, j) : 0.0);
          top = std::max(top, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < s.keys; ++j) sum += (p[j] = top == -INFINITY ? 0 : std::exp(p[j] - top));
        for (int64_t d = 0; d < s.dim; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < s.keys; ++j) acc += p[j] * v(b, h, j, d);
          out[((b * s.heads + h) * s.queries + i) * s.dim + d] = sum > 0 ? acc / sum : emptyRow;
        }
      }
  return out;
}

/// The same with a mask that does not vary with the head: mask(b, i, j).
inline std::vector<double> referenceAttention(const Shape& s, const std::vector<double>& q,
                                              const std::function<double(int64_t, int64_t, int64_t, int64_t)>& k,
                                              const std::function<double(int64_t, int64_t, int64_t, int64_t)>& v,
                                              const std::function<double(int64_t, int64_t, int64_t)>& mask,
                                              double scale, double emptyRow = std::nan("")) {
  std::function<double(int64_t, int64_t, int64_t, int64_t)> perHead;
  if (mask) perHead = [&mask](int64_t b, int64_t, int64_t i, int64_t j) { return mask(b, i, j); };
  return referenceAttentionPerHead(s, q, k, v, perHead, scale, emptyRow);
}

/// A [B,H,S,D] tensor's element accessor.
inline std::function<double(int64_t, int64_t, int64_t, int64_t)> bhsd(const std::vector<double>& t, const Shape& s,
                                                                      int64_t rows) {
  return [&t, s, rows](int64_t b, int64_t h, int64_t j, int64_t d) {
    return t[((b * s.heads + h) * rows + j) * s.dim + d];
  };
}

}  // namespace kiln::attentiontest

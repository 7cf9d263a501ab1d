// MatMul(Q, K^T) -> scale -> (Add mask) -> Softmax(last axis) -> (Where(IsNaN(p), 0, p)) -> MatMul(., V) becomes one
// FusedAttention node (ops/attention.h), in the forms torch's exporters write:
//   legacy (opset 17): the scale as Div/Mul of the scores by a constant, or sqrt(scale) on Q and on K^T separately
//     (F.scaled_dot_product_attention), K^T an explicit Transpose (perm [0,2,3,1] of a [B,S,H,D] view, or [0,1,3,2]);
//   dynamo (opset 18+): Mul of Q and of K^T by sqrt(scale), K^T as Reshape [-1,S,D] -> Transpose [0,2,1] -> Reshape
//     [B,H,D,S], a boolean mask as Where(m, 0, -max) added to the scores and Where(IsNaN(p), 0, p) after the softmax.
// It fuses only what keeps the meaning: every scale a one-element finite constant, the softmax over the last axis, the
// mask broadcastable to the scores without widening their last two dims, each intermediate read only by the next step.
// Anything else stays as it was.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "passes/graph_patterns.h"
#include "passes/passes.h"
#include "passes/shape_symbols.h"

namespace kiln::passes {
namespace {

using ir::OpKind;
using ir::ValueId;

bool isFloat(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16; }

const ir::Value& valueOf(const ir::Graph& g, ValueId v) { return g.values[static_cast<size_t>(v)]; }

bool rankBetween(const ir::Graph& g, ValueId v, size_t lo, size_t hi) {
  const ir::Value& x = valueOf(g, v);
  return x.rankKnown && x.dims.size() >= lo && x.dims.size() <= hi;
}

bool allStatic(const Dims& d) {
  for (int64_t x : d)
    if (x == kDynamicDim) return false;
  return true;
}

/// The node that produces `v` when it is `op` with one output that only the chain reads; -1 otherwise.
int32_t chainProducer(const ir::Graph& g, ValueId v, OpKind op) {
  const int32_t p = valueOf(g, v).producer;
  if (p < 0 || g.nodes[p].op != op || g.nodes[p].outputs.size() != 1 || soleConsumer(g, v) < 0) return -1;
  return p;
}

struct Rewrite {
  std::vector<int32_t> removed;  // nodes that the fused node replaces, in the
                                 // order they were found
  double scale = 1;
};

/// One Mul/Div of `v`'s producer by a one-element finite non-zero constant (x*c, c*x, x/c): its data input, with the
/// factor multiplied into `r`; kNoValue when the producer is no such step.
ValueId peelOneScale(const ir::Graph& g, ValueId v, Rewrite& r) {
  int32_t p = chainProducer(g, v, OpKind::kMul);
  if (p < 0) p = chainProducer(g, v, OpKind::kDiv);
  if (p < 0 || g.nodes[p].inputs.size() != 2) return ir::kNoValue;
  const ir::Node& n = g.nodes[p];
  const bool div = n.op == OpKind::kDiv;
  for (int side = 0; side < (div ? 1 : 2); ++side) {  // Div: only the divisor may be the constant
    const ValueId data = n.inputs[side], other = n.inputs[1 - side];
    const std::optional<float> c = scalarConstant(g, other);
    const Tensor* t = g.constantOf(other);
    const ir::Value& d = valueOf(g, data);
    // The constant may not raise the rank (a [1,1,1] factor would broadcast a matrix up).
    if (!c || !std::isfinite(*c) || *c == 0 || !t || !d.rankKnown || t->dims().size() > d.dims.size() ||
        d.dtype != valueOf(g, v).dtype)
      continue;
    r.scale = div ? r.scale / *c : r.scale * *c;
    r.removed.push_back(p);
    return data;
  }
  return ir::kNoValue;
}

/// Walks up from `v` through every such scale step.
ValueId peelScale(const ir::Graph& g, ValueId v, Rewrite& r) {
  for (ValueId up = peelOneScale(g, v, r); up != ir::kNoValue; up = peelOneScale(g, v, r)) v = up;
  return v;
}

bool isLastTwoSwap(const std::vector<int64_t>& perm) {
  const size_t r = perm.size();
  if (r < 2) return false;
  for (size_t i = 0; i + 2 < r; ++i)
    if (perm[i] != static_cast<int64_t>(i)) return false;
  return perm[r - 2] == static_cast<int64_t>(r - 1) && perm[r - 1] == static_cast<int64_t>(r - 2);
}

bool lastTwoEqual(const SymDims& a, const SymDims& b) {
  return a.size() >= 2 && b.size() >= 2 && a[a.size() - 1] == b[b.size() - 1] && a[a.size() - 2] == b[b.size() - 2];
}

/// How K is recovered from the K^T operand.
struct KeySource {
  ValueId key = ir::kNoValue;  // K itself, when it exists in the graph
  int32_t retranspose = -1;    // or: this Transpose, given `perm`, produces K
  std::vector<int64_t> perm;
  ValueId reshapeFrom = ir::kNoValue;  // or: K = Reshape(reshapeFrom, keyDims), a new node
  Dims keyDims;
};

std::optional<KeySource> findKey(const ir::Graph& g, ValueId kt, Rewrite& r) {
  const ir::Value& ktv = valueOf(g, kt);
  if (!ktv.rankKnown || ktv.dims.size() < 2 || ktv.dims.size() > 4) return std::nullopt;
  KeySource src;
  // Dynamo: [Reshape] -> Transpose(swap last two) -> [Reshape], the reshapes regrouping only the leading dims.
  int32_t r2 = chainProducer(g, kt, OpKind::kReshape);
  if (r2 >= 0 && !valueOf(g, g.nodes[r2].inputs[0]).rankKnown) r2 = -1;
  const ValueId beforeR2 = r2 >= 0 ? g.nodes[r2].inputs[0] : kt;
  const int32_t t = chainProducer(g, beforeR2, OpKind::kTranspose);
  if (t < 0 || g.nodes[t].inputs.size() != 1) return std::nullopt;
  const ir::Node& tn = g.nodes[t];
  const ir::Value& tin = valueOf(g, tn.inputs[0]);
  if (!tin.rankKnown) return std::nullopt;
  std::vector<int64_t> perm = tn.attrs.getInts("perm");
  if (!tn.attrs.has("perm"))
    for (int64_t i = static_cast<int64_t>(tin.dims.size()) - 1; i >= 0; --i) perm.push_back(i);
  if (perm.size() != tin.dims.size() || perm.size() < 2) return std::nullopt;
  int32_t r1 = chainProducer(g, tn.inputs[0], OpKind::kReshape);
  if (r1 >= 0 && !valueOf(g, g.nodes[r1].inputs[0]).rankKnown) r1 = -1;
  // The reshapes, followed symbolically from the chain's input: each must keep the last two dims of what it reads.
  if (r1 >= 0 && !lastTwoEqual(reshapeSymbols(g, g.nodes[r1], symbolsOf(g, g.nodes[r1].inputs[0])),
                               symbolsOf(g, g.nodes[r1].inputs[0])))
    r1 = -1;  // K is then the Transpose's input
  const ValueId from = r1 >= 0 ? g.nodes[r1].inputs[0] : tn.inputs[0];
  const SymDims fromDims = symbolsOf(g, from);
  SymDims chain = r1 >= 0 ? reshapeSymbols(g, g.nodes[r1], fromDims) : fromDims;

  if (r2 < 0 && r1 < 0) {
    // Legacy: one Transpose. Swapping its last two perm entries makes it produce K instead of K^T.
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
    if (identity) {
      r.removed.push_back(t);
      src.key = tn.inputs[0];
    } else {
      src.retranspose = t;
      src.perm = perm;
    }
    return src;
  }
  if (!isLastTwoSwap(perm) || chain.size() != perm.size()) return std::nullopt;
  std::swap(chain[chain.size() - 1], chain[chain.size() - 2]);
  if (r2 >= 0) {
    const SymDims next = reshapeSymbols(g, g.nodes[r2], chain);
    if (!lastTwoEqual(next, chain)) return std::nullopt;
    chain = next;
  }
  // K^T's dims with the last two swapped back; the reshapes only regroup whole [S, D] matrices.
  SymDims keyDims = chain;
  std::swap(keyDims[keyDims.size() - 1], keyDims[keyDims.size() - 2]);
  const ir::Value& fromv = valueOf(g, from);
  if (keyDims == fromDims) {
    src.key = from;  // the chain gives back K's own layout, at every shape
  } else {
    // Otherwise K is reshaped to K^T's leading dims, which needs them static.
    if (!allStatic(ktv.dims) || !allStatic(fromv.dims) || elementCount(fromv.dims) != elementCount(ktv.dims))
      return std::nullopt;
    src.keyDims = ktv.dims;
    std::swap(src.keyDims[src.keyDims.size() - 1], src.keyDims[src.keyDims.size() - 2]);
    if (fromv.dims == src.keyDims)
      src.key = from;
    else
      src.reshapeFrom = from;
  }
  for (int32_t n : {r2, t, r1})
    if (n >= 0) r.removed.push_back(n);
  return src;
}

/// A mask dim `m` against the scores' dim `s` (the last two only): it may not widen the scores.
bool maskDimFits(int64_t m, int64_t s) {
  if (m == 1 || s == kDynamicDim) return true;
  return m == s || (m == kDynamicDim && s != 1);
}

struct Match {
  Rewrite rewrite;
  int32_t output = -1;  // the second MatMul, replaced in place by the fused node
  ValueId q = ir::kNoValue, v = ir::kNoValue, mask = ir::kNoValue;
  KeySource key;
  bool zeroMaskedRows = false;
  bool causal = false;  // the mask was a constant causal one, dropped for is_causal
  // Swin's shifted windows: scores [B*nW, H, N, N] -> Reshape [B, nW, H, N, N] -> Add windowMask -> Reshape back.
  ValueId windowMask = ir::kNoValue;
  int64_t windows = 0;
};

/// Swin's shifted-window mask around the softmax input `x`: Reshape [B*nW,H,N,N] -> [B,nW,H,N,N], Add a mask that does
/// not vary with B, Reshape back. Returns what feeds the first Reshape (the scores, maybe plus a bias), recording the
/// mask and nW in `m`; kNoValue when `x` is not made so.
ValueId peelWindowMask(const ir::Graph& g, ValueId x, Match& m) {
  const int32_t r2 = chainProducer(g, x, OpKind::kReshape);
  const int32_t add = r2 < 0 ? -1 : chainProducer(g, g.nodes[r2].inputs[0], OpKind::kAdd);
  if (add < 0 || g.nodes[add].inputs.size() != 2) return ir::kNoValue;
  for (int side = 0; side < 2; ++side) {
    const ValueId five = g.nodes[add].inputs[side], mask = g.nodes[add].inputs[1 - side];
    const int32_t r1 = chainProducer(g, five, OpKind::kReshape);
    if (r1 < 0 || !rankBetween(g, mask, 0, 5) || !allStatic(valueOf(g, mask).dims) ||
        valueOf(g, mask).dtype != valueOf(g, x).dtype)
      continue;
    const ValueId in = g.nodes[r1].inputs[0];
    const Dims &d4 = valueOf(g, in).dims, &d5 = valueOf(g, five).dims, &out = valueOf(g, x).dims,
               &md = valueOf(g, mask).dims;
    if (!rankBetween(g, in, 4, 4) || !rankBetween(g, five, 5, 5) || !rankBetween(g, x, 4, 4)) continue;
    bool ok = d5[1] > 0;
    for (int k = 1; k < 4; ++k) ok = ok && d4[k] != kDynamicDim && d4[k] == d5[k + 1] && d4[k] == out[k];
    // The mask, right-aligned to [B, nW, H, N, N]: each dim 1 or the full one, and 1 over the images B.
    for (size_t k = 0; k < md.size() && ok; ++k) {
      const int64_t full = d5[5 - md.size() + k];
      ok = md[k] == 1 || (md[k] == full && 5 - md.size() + k > 0);
    }
    if (!ok) continue;
    m.rewrite.removed.insert(m.rewrite.removed.end(), {r2, add, r1});
    m.windowMask = mask;
    m.windows = d5[1];
    return in;
  }
  return ir::kNoValue;
}

/// A float32 constant [1,..,1, Sq, Sk] of exactly 0 where key j <= query i and -inf above: torch's is_causal, folded
/// (both exporters write it at static shapes). Adding it is what is_causal does, except that a NaN score above the
/// diagonal is dropped instead of kept.
bool isCausalConstant(const ir::Graph& g, ValueId mask, const Dims& scores) {
  const Tensor* t = g.constantOf(mask);
  if (!t || t->dtype() != DataType::kFloat32 || t->dims().size() < 2 || scores.size() < 2) return false;
  const Dims& d = t->dims();
  for (size_t i = 0; i + 2 < d.size(); ++i)
    if (d[i] != 1) return false;
  const int64_t rows = d[d.size() - 2], cols = d[d.size() - 1];
  if (rows != scores[scores.size() - 2] || cols != scores[scores.size() - 1]) return false;
  const float* v = t->dataAs<float>();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const float x = v[i * cols + j];
      if (j <= i ? x != 0.f : !(std::isinf(x) && x < 0)) return false;
    }
  return true;
}

/// The scores' MatMul behind `s` (through scale ops), with its Q and K found.
bool matchScores(const ir::Graph& g, ValueId s, Match& m) {
  s = peelScale(g, s, m.rewrite);
  const int32_t mm = chainProducer(g, s, OpKind::kMatMul);
  if (mm < 0 || g.nodes[mm].inputs.size() != 2) return false;
  m.rewrite.removed.push_back(mm);
  const ir::Node& n = g.nodes[mm];
  m.q = peelScale(g, n.inputs[0], m.rewrite);
  const ValueId kt = peelScale(g, n.inputs[1], m.rewrite);
  auto key = findKey(g, kt, m.rewrite);
  if (!key) return false;
  // A scale on K before its transpose or reshapes commutes with them (a Transpose that is kept reads what it read).
  if (key->key != ir::kNoValue)
    key->key = peelScale(g, key->key, m.rewrite);
  else if (key->reshapeFrom != ir::kNoValue)
    key->reshapeFrom = peelScale(g, key->reshapeFrom, m.rewrite);
  m.key = *key;
  return true;
}

/// Swin: Q, K and V [B*nW, H, N, D] (static but for the batch, which is one symbol for all three), K read directly,
/// and a bias that does not vary with the batch: then heads and windows regroup as [B, nW*H, N, D] with one mask.
bool windowOperandsFit(const ir::Graph& g, const Match& m) {
  if (m.key.key == ir::kNoValue) return false;
  const SymDim batch = traceDim(g, m.q, 0);
  const int64_t heads = valueOf(g, m.q).rankKnown && valueOf(g, m.q).dims.size() == 4 ? valueOf(g, m.q).dims[1] : -1;
  for (ValueId t : {m.q, m.key.key, m.v}) {
    const ir::Value& x = valueOf(g, t);
    if (!x.rankKnown || x.dims.size() != 4 || x.dims[1] != heads || !(traceDim(g, t, 0) == batch)) return false;
    for (int k = 1; k < 4; ++k)
      if (x.dims[k] == kDynamicDim) return false;
  }
  if (m.mask == ir::kNoValue) return true;
  const Dims& bd = valueOf(g, m.mask).dims;
  return allStatic(bd) && (bd.size() < 4 || bd[0] == 1);
}

/// The fused form of the attention around the Softmax at `softmaxIndex`, or nothing. Once the Softmax is seen to feed a
/// MatMul (attention's shape), `*why` says what kept it unfused, for `kiln inspect`.
std::optional<Match> matchAt(const ir::Graph& g, size_t softmaxIndex, std::string* why) {
  const ir::Node& sm = g.nodes[softmaxIndex];
  if (sm.op != OpKind::kSoftmax || sm.inputs.size() != 1 || sm.outputs.size() != 1) return std::nullopt;
  const ValueId x = sm.inputs[0], p = sm.outputs[0];
  if (!rankBetween(g, x, 2, 4) || !isFloat(valueOf(g, x).dtype)) return std::nullopt;
  const int64_t rank = static_cast<int64_t>(valueOf(g, x).dims.size());
  int64_t axis = sm.attrs.getInt("axis", g.opsetVersion < 13 ? 1 : -1);
  if (axis < 0) axis += rank;
  // Before opset 13 the last axis also makes Softmax's 2-D coercion a per-row softmax.
  if (axis != rank - 1) return std::nullopt;

  Match m;
  m.rewrite.removed.push_back(static_cast<int32_t>(softmaxIndex));
  // After the softmax: the second MatMul, maybe behind Where(IsNaN(p), 0, p).
  ValueId probs = p;
  if (g.isGraphOutput(p)) return std::nullopt;
  const auto readers = g.consumers(p);
  if (readers.size() == 2) {
    int32_t isnan = -1, where = -1;
    for (int32_t r : readers) {
      if (g.nodes[r].op == OpKind::kIsNaN) isnan = r;
      if (g.nodes[r].op == OpKind::kWhere) where = r;
    }
    if (isnan < 0 || where < 0 || g.nodes[isnan].outputs.size() != 1) return std::nullopt;
    const ir::Node& w = g.nodes[where];
    const ValueId nanFlags = g.nodes[isnan].outputs[0];
    const std::optional<float> zero = w.inputs.size() == 3 ? scalarConstant(g, w.inputs[1]) : std::nullopt;
    if (soleConsumer(g, nanFlags) != where || w.inputs[0] != nanFlags || w.inputs[2] != p || !zero || *zero != 0 ||
        g.constantOf(w.inputs[1])->dims().size() > static_cast<size_t>(rank) || w.outputs.size() != 1)
      return std::nullopt;
    m.rewrite.removed.push_back(isnan);
    m.rewrite.removed.push_back(where);
    m.zeroMaskedRows = true;
    probs = w.outputs[0];
  } else if (readers.size() != 1) {
    return std::nullopt;
  }
  const int32_t out = soleConsumer(g, probs);
  if (out < 0 || g.nodes[out].op != OpKind::kMatMul || g.nodes[out].inputs.size() != 2 ||
      g.nodes[out].outputs.size() != 1 || g.nodes[out].inputs[0] != probs || g.nodes[out].inputs[1] == probs)
    return std::nullopt;
  m.output = out;
  m.v = g.nodes[out].inputs[1];
  const auto unfused = [why](const char* reason) -> std::optional<Match> {
    *why = reason;
    return std::nullopt;
  };

  // Before the softmax: scores, or scores + mask, maybe inside Swin's window views.
  const ValueId windowed = peelWindowMask(g, x, m);
  const ValueId preSoftmax = windowed != ir::kNoValue ? windowed : x;
  bool found = false;
  const int32_t add = chainProducer(g, preSoftmax, OpKind::kAdd);
  if (add >= 0 && g.nodes[add].inputs.size() == 2) {
    for (int side = 0; side < 2 && !found; ++side) {
      Match tried = m;
      tried.rewrite.removed.push_back(add);
      const ValueId scores = g.nodes[add].inputs[side], mask = g.nodes[add].inputs[1 - side];
      if (mask == scores || !rankBetween(g, mask, 0, 4) || valueOf(g, mask).dtype != valueOf(g, x).dtype) continue;
      if (!matchScores(g, scores, tried)) continue;
      const Dims& md = valueOf(g, mask).dims;
      const Dims& sd = valueOf(g, scores).dims;
      if (!valueOf(g, scores).rankKnown) continue;
      bool fits = true;
      for (size_t i = 1; i <= 2 && i <= md.size() && i <= sd.size(); ++i)
        fits = fits && maskDimFits(md[md.size() - i], sd[sd.size() - i]);
      if (!fits) continue;
      tried.mask = mask;
      if (windowed == ir::kNoValue && isCausalConstant(g, mask, sd)) {
        tried.mask = ir::kNoValue;
        tried.causal = true;
      }
      m = std::move(tried);
      found = true;
    }
  }
  if (!found && !matchScores(g, preSoftmax, m))
    return unfused("the scores are not MatMul(Q, K^T) times a constant scale (plus a mask that fits [B,H,Sq,Sk])");
  if (m.windowMask != ir::kNoValue && !windowOperandsFit(g, m))
    return unfused("windowed attention whose Q, K, V or masks do not share one window layout");

  // The operands: 2- to 4-D tensors of one float type.
  const DataType type = valueOf(g, x).dtype;
  for (ValueId v : {m.q, m.v})
    if (!rankBetween(g, v, 2, 4) || valueOf(g, v).dtype != type) return unfused("Q or V is not 2- to 4-D of the scores' type");
  const ValueId keyRef = m.key.key != ir::kNoValue           ? m.key.key
                         : m.key.reshapeFrom != ir::kNoValue ? m.key.reshapeFrom
                                                             : g.nodes[m.key.retranspose].inputs[0];
  if (valueOf(g, keyRef).dtype != type || valueOf(g, g.nodes[out].outputs[0]).dtype != type)
    return unfused("K or the output is not of the scores' type");
  if (m.key.key != ir::kNoValue && !rankBetween(g, m.key.key, 2, 4)) return unfused("K is not 2- to 4-D");
  if (!std::isfinite(m.rewrite.scale) || m.rewrite.scale == 0) return unfused("the scale is zero or not finite");
  // Each replaced node once, and no operand of the fused node made by one of them (Q and K^T sharing a chain).
  std::vector<bool> seen(g.nodes.size(), false);
  for (int32_t n : m.rewrite.removed) {
    if (seen[n] || n == m.output || n == m.key.retranspose) return unfused("Q and K^T share nodes of one chain");
    seen[n] = true;
  }
  for (ValueId operand : {m.q, keyRef, m.v, m.mask, m.windowMask})
    if (operand != ir::kNoValue && valueOf(g, operand).producer >= 0 && seen[valueOf(g, operand).producer])
      return unfused("an operand is made by one of the nodes the fusion would remove");
  return m;
}

/// A new node `op(inputs)` named `name`, with one output of `type` and `dims`; returns the output.
ValueId addNode(ir::Graph& g, OpKind op, std::vector<ValueId> inputs, const std::string& name, DataType type,
                Dims dims) {
  const ValueId out = g.addValue(name, type);
  g.values[out].rankKnown = true;
  g.values[out].dims = std::move(dims);
  ir::Node n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  n.outputs = {out};
  g.nodes.push_back(std::move(n));
  return out;
}

Expected<ValueId> int64Vector(ir::Graph& g, const std::string& name, const std::vector<int64_t>& v) {
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(DataType::kInt64, {static_cast<int64_t>(v.size())}));
  std::copy(v.begin(), v.end(), t.dataAs<int64_t>());
  return g.addConstant(name, std::move(t));
}

/// Reshape `v` [B*nW, H, N, D] (any D) to `dims` with -1 for the batch, a view of the same memory.
Expected<ValueId> regroup(ir::Graph& g, ValueId v, const std::string& name, std::vector<int64_t> dims) {
  KILN_ASSIGN_OR_RETURN(ValueId shape, int64Vector(g, name + "_shape", dims));
  dims[0] = kDynamicDim;
  const int64_t batch = valueOf(g, v).dims[0];
  if (batch != kDynamicDim) dims[0] = batch * valueOf(g, v).dims[1] / dims[1];
  return addNode(g, OpKind::kReshape, {v, shape}, name, valueOf(g, v).dtype, dims);
}

/// Swin: window w of image b is batch b*nW + w, so [B*nW, H, N, D] is [B, nW*H, N, D] in the same memory, and the
/// window mask (plus the bias) becomes one additive mask [1, nW*H, N, N]. Rewires Q, K, V and the mask of `m` and
/// returns the value the fused node writes, which a Reshape turns back into `y`.
Expected<ValueId> regroupWindows(ir::Graph& g, Match& m, ValueId& key, ValueId y) {
  const Dims qd = valueOf(g, m.q).dims;
  const int64_t nW = m.windows, heads = qd[1], n = qd[2], nk = valueOf(g, key).dims[2];
  const DataType type = valueOf(g, m.q).dtype;
  const std::string base = g.nodes[m.output].name + "_windows";
  ValueId mask = m.windowMask;
  if (m.mask != ir::kNoValue) {  // the bias [.., H, N, N] as [1, 1, H, N, N], added to the window mask
    Dims bd = valueOf(g, m.mask).dims;
    while (bd.size() < 4) bd.insert(bd.begin(), 1);
    bd.insert(bd.begin(), 1);
    KILN_ASSIGN_OR_RETURN(ValueId shape, int64Vector(g, base + "_bias_shape", bd));
    const ValueId bias5 = addNode(g, OpKind::kReshape, {m.mask, shape}, base + "_bias", type, bd);
    Dims sum(5);
    Dims wd = valueOf(g, mask).dims;
    while (wd.size() < 5) wd.insert(wd.begin(), 1);
    for (int k = 0; k < 5; ++k) sum[k] = std::max(bd[k], wd[k]);
    mask = addNode(g, OpKind::kAdd, {bias5, mask}, base + "_mask_sum", type, sum);
  }
  KILN_ASSIGN_OR_RETURN(ValueId full, int64Vector(g, base + "_mask_full_shape", {1, nW, heads, n, nk}));
  mask = addNode(g, OpKind::kExpand, {mask, full}, base + "_mask_full", type, {1, nW, heads, n, nk});
  KILN_ASSIGN_OR_RETURN(ValueId flat, int64Vector(g, base + "_mask_shape", {1, nW * heads, n, nk}));
  m.mask = addNode(g, OpKind::kReshape, {mask, flat}, base + "_mask", type, {1, nW * heads, n, nk});
  KILN_ASSIGN_OR_RETURN(m.q, regroup(g, m.q, base + "_q", {-1, nW * heads, n, qd[3]}));
  KILN_ASSIGN_OR_RETURN(key, regroup(g, key, base + "_k", {-1, nW * heads, nk, valueOf(g, key).dims[3]}));
  KILN_ASSIGN_OR_RETURN(m.v, regroup(g, m.v, base + "_v", {-1, nW * heads, nk, valueOf(g, m.v).dims[3]}));
  Dims od = valueOf(g, m.q).dims;
  od[3] = valueOf(g, m.v).dims[3];
  const ValueId grouped = g.addValue(base + "_out", type);
  g.values[grouped].rankKnown = true;
  g.values[grouped].dims = od;
  KILN_ASSIGN_OR_RETURN(ValueId back, int64Vector(g, base + "_out_shape", {-1, heads, n, od[3]}));
  ir::Node r;
  r.name = base + "_out_reshape";
  r.op = OpKind::kReshape;
  r.inputs = {grouped, back};
  r.outputs = {y};
  g.nodes.push_back(std::move(r));
  return grouped;
}

Status apply(ir::Graph& g, Match& m) {
  ValueId key = m.key.key;
  const std::vector<int32_t>& removed = m.rewrite.removed;
  std::vector<std::string> names;
  for (int32_t n : removed) names.push_back(g.nodes[n].name);
  if (m.key.retranspose >= 0) {
    ir::Node& t = g.nodes[m.key.retranspose];
    t.attrs.set("perm", m.key.perm);
    key = t.outputs[0];
    ir::Value& kv = g.values[key];  // K^T's dims with the last two swapped (the
                                    // builder re-annotates anyway)
    if (kv.rankKnown && kv.dims.size() >= 2) std::swap(kv.dims[kv.dims.size() - 1], kv.dims[kv.dims.size() - 2]);
    kv.dimNames.clear();
  } else if (m.key.reshapeFrom != ir::kNoValue) {
    KILN_ASSIGN_OR_RETURN(Tensor shape,
                          Tensor::allocate(DataType::kInt64, {static_cast<int64_t>(m.key.keyDims.size())}));
    for (size_t i = 0; i < m.key.keyDims.size(); ++i) shape.dataAs<int64_t>()[i] = m.key.keyDims[i];
    const std::string base = g.nodes[m.output].name + "_key";
    const ValueId shapeId = g.addConstant(base + "_shape", std::move(shape));
    key = g.addValue(base, valueOf(g, m.key.reshapeFrom).dtype);
    g.values[key].rankKnown = true;
    g.values[key].dims = m.key.keyDims;
    ir::Node reshape;
    reshape.name = base;
    reshape.op = OpKind::kReshape;
    reshape.inputs = {m.key.reshapeFrom, shapeId};
    reshape.outputs = {key};
    g.nodes.push_back(std::move(reshape));
  }
  ValueId y = g.nodes[m.output].outputs[0];
  if (m.windowMask != ir::kNoValue) {
    KILN_ASSIGN_OR_RETURN(y, regroupWindows(g, m, key, y));
  }
  ir::Node& fused = g.nodes[m.output];
  fused.op = OpKind::kFusedAttention;
  fused.inputs = {m.q, key, m.v};
  if (m.mask != ir::kNoValue) fused.inputs.push_back(m.mask);
  fused.outputs = {y};
  fused.attrs = ir::Attributes();
  fused.attrs.set("scale", static_cast<float>(m.rewrite.scale));
  if (m.zeroMaskedRows) fused.attrs.set("zero_masked_rows", int64_t{1});
  if (m.causal) fused.attrs.set("is_causal", int64_t{1});
  fused.attrs.set("fused_nodes", names);
  std::vector<bool> erase(g.nodes.size(), false);
  for (int32_t n : removed) erase[n] = true;
  return g.eraseNodes(erase);
}

}  // namespace

Expected<int> fuseAttention(ir::Graph& graph) {
  KILN_RETURN_IF_ERROR(graph.topologicalSort());
  int fused = 0;
  for (bool again = true; again;) {
    again = false;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      std::string why;
      std::optional<Match> m = matchAt(graph, i, &why);
      if (!m) {
        // Attention-shaped but not fused: say why where `kiln inspect` shows the layer.
        if (!why.empty()) graph.nodes[i].attrs.set("unfused_attention", why);
        continue;
      }
      KILN_RETURN_IF_ERROR(apply(graph, *m));  // re-sorts: start over
      ++fused;
      again = true;
      break;
    }
  }
  return fused;
}

}  // namespace kiln::passes

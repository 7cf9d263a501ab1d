#include "passes/shape_symbols.h"

#include <algorithm>
#include <utility>

namespace kiln::passes {
namespace {

using ir::OpKind;
using ir::ValueId;

const ir::Value& value(const ir::Graph& g, ValueId v) { return g.values[static_cast<size_t>(v)]; }

SymDim dimSymbol(const ir::Graph& g, ValueId v, int64_t i) {
  const ir::Value& x = g.values[static_cast<size_t>(v)];
  if (x.dims[i] != kDynamicDim) return {x.dims[i], ir::kNoValue, -1};
  return {kDynamicDim, v, i};
}

std::optional<int64_t> intConstant(const ir::Graph& g, ValueId v) {
  const Tensor* t = v == ir::kNoValue ? nullptr : g.constantOf(v);
  if (!t || t->elementCount() != 1) return std::nullopt;
  if (t->dtype() == DataType::kInt64) return t->dataAs<int64_t>()[0];
  if (t->dtype() == DataType::kInt32) return t->dataAs<int32_t>()[0];
  return std::nullopt;
}

}  // namespace

SymDims symbolsOf(const ir::Graph& g, ValueId v) {
  SymDims d;
  for (size_t i = 0; i < value(g, v).dims.size(); ++i) d.push_back(dimSymbol(g, v, static_cast<int64_t>(i)));
  return d;
}

std::optional<SymDims> shapeSymbols(const ir::Graph& g, ValueId v, int depth) {
  if (depth > 8 || v == ir::kNoValue) return std::nullopt;
  if (const Tensor* t = g.constantOf(v)) {
    if (t->dtype() != DataType::kInt64 || t->dims().size() > 1) return std::nullopt;
    SymDims d;
    for (int64_t i = 0; i < t->elementCount(); ++i) d.push_back({t->dataAs<int64_t>()[i], ir::kNoValue, -1});
    return d;
  }
  const int32_t p = value(g, v).producer;
  if (p < 0) return std::nullopt;
  const ir::Node& n = g.nodes[p];
  const auto rangeOf = [](int64_t start, int64_t end, int64_t rank) {
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    return std::pair{start, std::clamp<int64_t>(end, start, rank)};
  };
  switch (n.op) {
    case OpKind::kShape: {
      if (n.inputs.size() != 1 || !value(g, n.inputs[0]).rankKnown) return std::nullopt;
      const SymDims all = symbolsOf(g, n.inputs[0]);
      const int64_t rank = static_cast<int64_t>(all.size());
      const auto [a, b] = rangeOf(n.attrs.getInt("start", 0), n.attrs.getInt("end", rank), rank);
      return SymDims(all.begin() + a, all.begin() + b);
    }
    case OpKind::kSlice: {
      if (n.inputs.size() < 3) return std::nullopt;
      auto in = shapeSymbols(g, n.inputs[0], depth + 1);
      const auto start = intConstant(g, n.inputs[1]), end = intConstant(g, n.inputs[2]);
      const auto axis = n.inputs.size() > 3 ? intConstant(g, n.inputs[3]) : std::optional<int64_t>(0);
      const auto step = n.inputs.size() > 4 ? intConstant(g, n.inputs[4]) : std::optional<int64_t>(1);
      if (!in || !start || !end || !axis || (*axis != 0 && *axis != -1) || step != 1) return std::nullopt;
      const auto [a, b] = rangeOf(*start, *end, static_cast<int64_t>(in->size()));
      return SymDims(in->begin() + a, in->begin() + b);
    }
    case OpKind::kConcat: {
      SymDims d;
      for (ValueId part : n.inputs) {
        auto s = shapeSymbols(g, part, depth + 1);
        if (!s) return std::nullopt;
        d.insert(d.end(), s->begin(), s->end());
      }
      return d;
    }
    case OpKind::kGather: {
      auto in = n.inputs.size() == 2 ? shapeSymbols(g, n.inputs[0], depth + 1) : std::nullopt;
      auto at = intConstant(g, n.inputs.size() == 2 ? n.inputs[1] : ir::kNoValue);
      if (!in || !at || n.attrs.getInt("axis", 0) != 0) return std::nullopt;
      const int64_t i = *at < 0 ? *at + static_cast<int64_t>(in->size()) : *at;
      if (i < 0 || i >= static_cast<int64_t>(in->size())) return std::nullopt;
      return SymDims{(*in)[i]};
    }
    case OpKind::kUnsqueeze:
    case OpKind::kSqueeze: {
      auto in = n.inputs.empty() ? std::nullopt : shapeSymbols(g, n.inputs[0], depth + 1);
      if (!in || in->size() != 1) return std::nullopt;
      return in;
    }
    default:
      return std::nullopt;
  }
}

SymDims reshapeSymbols(const ir::Graph& g, const ir::Node& n, const SymDims& in) {
  const ValueId out = n.outputs[0];
  auto shape = n.inputs.size() == 2 ? shapeSymbols(g, n.inputs[1]) : std::nullopt;
  if (!shape || shape->size() != value(g, out).dims.size()) return symbolsOf(g, out);
  const bool allowZero = n.attrs.getInt("allowzero", 0) != 0;
  SymDims d = *shape;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i].size == 0 && !allowZero) d[i] = i < in.size() ? in[i] : SymDim{};
    if (d[i].size == -1 && d[i].of == ir::kNoValue) d[i] = SymDim{};  // inferred: unknown, equals nothing
    if (value(g, out).dims[i] != kDynamicDim) d[i] = {value(g, out).dims[i], ir::kNoValue, -1};
  }
  return d;
}

SymDim traceDim(const ir::Graph& g, ValueId v, int64_t i) {
  for (int step = 0; step < 16; ++step) {
    const ir::Value& x = g.values[static_cast<size_t>(v)];
    if (!x.rankKnown || i >= static_cast<int64_t>(x.dims.size())) return {};
    if (x.dims[i] != kDynamicDim) return {x.dims[i], ir::kNoValue, -1};
    const int32_t p = x.producer;
    if (p < 0) break;
    const ir::Node& n = g.nodes[p];
    const Tensor* other = n.inputs.size() == 2 ? g.constantOf(n.inputs[1]) : nullptr;
    if (n.op == OpKind::kGather && other && other->dims().empty() && value(g, n.inputs[0]).rankKnown) {
      int64_t axis = n.attrs.getInt("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(value(g, n.inputs[0]).dims.size());
      v = n.inputs[0], i = i < axis ? i : i + 1;
    } else if (n.op == OpKind::kTranspose && n.attrs.has("perm")) {
      const std::vector<int64_t> perm = n.attrs.getInts("perm");
      if (i >= static_cast<int64_t>(perm.size())) break;
      v = n.inputs[0], i = perm[i];
    } else if ((n.op == OpKind::kMul || n.op == OpKind::kDiv) && other && other->elementCount() == 1 &&
               value(g, n.inputs[0]).rankKnown && value(g, n.inputs[0]).dims.size() == x.dims.size()) {
      // The factor does not raise the rank, so dim i is the data's dim i.
      v = n.inputs[0];
    } else {
      break;
    }
  }
  return {kDynamicDim, v, i};
}

}  // namespace kiln::passes

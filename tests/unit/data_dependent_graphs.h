// Small graphs with data-dependent output sizes, as exporters write them, for the allocator unit test and the
// CUDA-vs-CPU GPU test; plus the plain C++ references they are checked against. Header-only.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"

namespace kiln::test {

struct GraphMaker {
  std::unique_ptr<ir::Graph> g = std::make_unique<ir::Graph>();
  ir::ValueId input(const std::string& name, DataType t, Dims dims) {
    const ir::ValueId v = g->addValue(name, t);
    g->values[v].rankKnown = true;
    g->values[v].dims = std::move(dims);
    g->inputs.push_back(v);
    return v;
  }
  ir::ValueId int64s(const std::string& name, std::vector<int64_t> values, Dims dims) {
    Tensor t = Tensor::allocate(DataType::kInt64, dims).value();
    std::memcpy(t.data(), values.data(), values.size() * sizeof(int64_t));
    return g->addConstant(name, std::move(t));
  }
  ir::ValueId floats(const std::string& name, std::vector<float> values, Dims dims) {
    Tensor t = Tensor::allocate(DataType::kFloat32, dims).value();
    std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
    return g->addConstant(name, std::move(t));
  }
  std::vector<ir::ValueId> node(ir::OpKind op, std::vector<ir::ValueId> ins, int outs, ir::Attributes attrs = {}) {
    ir::Node n;
    n.name = std::string(ir::opKindName(op)) + "_" + std::to_string(g->nodes.size());
    n.op = op;
    n.inputs = std::move(ins);
    n.attrs = std::move(attrs);
    for (int k = 0; k < outs; ++k) n.outputs.push_back(g->addValue(n.name + "_out" + std::to_string(k)));
    g->nodes.push_back(std::move(n));
    return g->nodes.back().outputs;
  }
  void output(ir::ValueId v, const std::string& name) {
    g->values[v].name = name;
    g->outputs.push_back(v);
  }
  Network network() { return Network(std::move(g)); }
};

/// x [n] float ->  idx = NonZero(x) [1, C];  vals = Gather(x, Reshape(idx, [-1])) * 2 [C];
/// ramp = vals + Cast(Range(0, Shape(idx)[1], 1)) [C]. The layers after NonZero wait for its count; Range is a
/// shape-program value computed from it.
inline Network nonZeroGatherGraph(int64_t maxN) {
  GraphMaker m;
  const auto x = m.input("x", DataType::kFloat32, {kDynamicDim});
  const auto idx = m.node(ir::OpKind::kNonZero, {x}, 1)[0];
  const auto flat = m.node(ir::OpKind::kReshape, {idx, m.int64s("minus_one", {-1}, {1})}, 1)[0];
  ir::Attributes axis0;
  axis0.set("axis", int64_t{0});
  const auto picked = m.node(ir::OpKind::kGather, {x, flat}, 1, axis0)[0];
  const auto vals = m.node(ir::OpKind::kMul, {picked, m.floats("two", {2.0f}, {})}, 1)[0];
  const auto shape = m.node(ir::OpKind::kShape, {idx}, 1)[0];
  const auto count = m.node(ir::OpKind::kGather, {shape, m.int64s("one", {1}, {})}, 1, axis0)[0];
  const auto range = m.node(ir::OpKind::kRange, {m.int64s("zero", {0}, {}), count, m.int64s("step", {1}, {})}, 1)[0];
  ir::Attributes toFloat;
  toFloat.set("to", int64_t{static_cast<int64_t>(DataType::kFloat32)});
  const auto rampF = m.node(ir::OpKind::kCast, {range}, 1, toFloat)[0];
  const auto ramp = m.node(ir::OpKind::kAdd, {picked, rampF}, 1)[0];
  m.output(idx, "idx");
  m.output(vals, "vals");
  m.output(ramp, "ramp");
  (void)maxN;
  return m.network();
}

/// x [rows, cols] float, k [1] int64 -> TopK(x, k, axis=1) values/indices; Compress(x, x[:,0] > 0, axis=0) rows.
inline Network topKCompressGraph() {
  GraphMaker m;
  const auto x = m.input("x", DataType::kFloat32, {kDynamicDim, kDynamicDim});
  const auto k = m.input("k", DataType::kInt64, {1});
  ir::Attributes axis1;
  axis1.set("axis", int64_t{1});
  const auto topk = m.node(ir::OpKind::kTopK, {x, k}, 2, axis1);
  ir::Attributes axis0;
  axis0.set("axis", int64_t{0});
  const auto col0 = m.node(ir::OpKind::kGather, {x, m.int64s("zero", {0}, {})}, 1, axis1)[0];
  const auto positive = m.node(ir::OpKind::kGreater, {col0, m.floats("fzero", {0.0f}, {})}, 1)[0];
  const auto rows = m.node(ir::OpKind::kCompress, {x, positive}, 1, axis0)[0];
  m.output(topk[0], "values");
  m.output(topk[1], "indices");
  m.output(rows, "rows");
  return m.network();
}

/// boxes [1, n, 4], scores [1, classes, n] -> NonMaxSuppression(max 3 per class, iou 0.5, score 0.1) [N, 3].
inline Network nmsGraph(bool centerPointBox) {
  GraphMaker m;
  const auto boxes = m.input("boxes", DataType::kFloat32, {1, kDynamicDim, 4});
  const auto scores = m.input("scores", DataType::kFloat32, {1, kDynamicDim, kDynamicDim});
  ir::Attributes a;
  a.set("center_point_box", int64_t{centerPointBox ? 1 : 0});
  const auto sel = m.node(ir::OpKind::kNonMaxSuppression,
                          {boxes, scores, m.int64s("max_out", {3}, {1}), m.floats("iou", {0.5f}, {1}),
                           m.floats("score", {0.1f}, {1})},
                          1, a)[0];
  m.output(sel, "selected");
  return m.network();
}

/// x [n] float -> Unique(x, sorted) Y, indices, inverse, counts.
inline Network uniqueGraph(bool sorted) {
  GraphMaker m;
  const auto x = m.input("x", DataType::kFloat32, {kDynamicDim});
  ir::Attributes a;
  a.set("sorted", int64_t{sorted ? 1 : 0});
  const auto outs = m.node(ir::OpKind::kUnique, {x}, 4, a);
  m.output(outs[0], "y");
  m.output(outs[1], "indices");
  m.output(outs[2], "inverse");
  m.output(outs[3], "counts");
  return m.network();
}

inline Expected<std::shared_ptr<Engine>> buildFor(Network network, DeviceKind device,
                                                  std::vector<InputShapeRange> ranges) {
  BuilderConfig config;
  config.device = device;
  config.addProfile({std::move(ranges)});
  KILN_ASSIGN_OR_RETURN(auto plan, buildEngine(network, config));
  return Engine::loadFromMemory(plan.data(), plan.size());
}

/// Random values with about `zeroFraction` of them exactly zero.
inline Tensor sparseVector(int64_t n, double zeroFraction, std::mt19937& rng) {
  Tensor t = Tensor::allocate(DataType::kFloat32, {n}).value();
  std::uniform_real_distribution<float> value(-3.0f, 3.0f);
  std::bernoulli_distribution zero(zeroFraction);
  for (int64_t i = 0; i < n; ++i) t.dataAs<float>()[i] = zero(rng) ? 0.0f : value(rng) + (value(rng) > 0 ? 0.01f : -0.01f);
  return t;
}

}  // namespace kiln::test

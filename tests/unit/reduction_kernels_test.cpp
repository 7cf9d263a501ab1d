// Reduction kernels on one hand-built node against float64 references computed here, at sizes that take the
// OpenMP and multi-block paths. (tests/ops/cases/reduction.py covers every variant against onnxruntime.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backends/cpu/cpu_kernels.h"
#include "ops/shape_inference.h"

namespace kiln {
namespace {

using ir::OpKind;

Tensor randomFloats(Dims dims, uint32_t seed, float low = -2.0f, float high = 2.0f) {
  Tensor t = Tensor::allocate(DataType::kFloat32, std::move(dims)).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(low, high);
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    float v = u(rng);
    t.dataAs<float>()[i] = std::abs(v) < 1e-3f ? 0.5f : v;
  }
  return t;
}
Tensor ints(std::vector<int64_t> v) {
  Tensor t = Tensor::allocate(DataType::kInt64, {static_cast<int64_t>(v.size())}).value();
  std::memcpy(t.data(), v.data(), v.size() * 8);
  return t;
}

/// One-node graph: `x` is data, `extra` (if given) is a constant second input; infers, then runs the CPU kernel.
Expected<Tensor> runNode(OpKind op, const Tensor& x, const Tensor* extra, ir::Attributes attrs = {}) {
  ir::Graph g;
  ir::Node node{"r1", op, {}, {}, std::move(attrs)};
  std::vector<ops::TensorInfo> infos{{x.dtype(), x.dims(), nullptr}};
  std::vector<backends::DeviceTensor> ins{{x.dtype(), x.dims(), const_cast<void*>(x.data())}};
  node.inputs.push_back(g.addValue("x", x.dtype()));
  if (extra) {
    node.inputs.push_back(g.addValue("axes", extra->dtype()));
    infos.push_back({extra->dtype(), extra->dims(), extra});
    ins.push_back({extra->dtype(), extra->dims(), const_cast<void*>(extra->data())});
  }
  node.outputs.push_back(g.addValue("y"));
  KILN_ASSIGN_OR_RETURN(std::vector<ops::TensorInfo> out, ops::inferOutputs(g, node, infos));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(out[0].dtype, out[0].dims));
  std::vector<backends::DeviceTensor> outs{{y.dtype(), y.dims(), y.data()}};
  KILN_RETURN_IF_ERROR(backends::cpu::executeNode(g, node, ins, outs));
  return y;
}

// float64 reference of a 3-D [A, B, C] reduction over the axes flagged in `reduce`.
std::vector<double> reference(OpKind op, const Tensor& x, const std::array<bool, 3>& reduce) {
  const Dims& d = x.dims();
  Dims out(3);
  for (int i = 0; i < 3; ++i) out[i] = reduce[i] ? 1 : d[i];
  const int64_t n = out[0] * out[1] * out[2];
  std::vector<double> acc(n, op == OpKind::kReduceMax ? -INFINITY : op == OpKind::kReduceProd ? 1.0 : 0.0);
  std::vector<double> peak(n, -INFINITY);
  for (int pass = 0; pass < (op == OpKind::kReduceLogSumExp ? 2 : 1); ++pass)
    for (int64_t a = 0; a < d[0]; ++a)
      for (int64_t b = 0; b < d[1]; ++b)
        for (int64_t c = 0; c < d[2]; ++c) {
          const double v = x.dataAs<float>()[(a * d[1] + b) * d[2] + c];
          const int64_t o = ((reduce[0] ? 0 : a) * out[1] + (reduce[1] ? 0 : b)) * out[2] + (reduce[2] ? 0 : c);
          switch (op) {
            case OpKind::kReduceMax: acc[o] = std::max(acc[o], v); break;
            case OpKind::kReduceProd: acc[o] *= v; break;
            case OpKind::kReduceL2: acc[o] += v * v; break;
            case OpKind::kReduceL1: acc[o] += std::abs(v); break;
            case OpKind::kReduceLogSumExp:
              if (pass == 0) peak[o] = std::max(peak[o], v);
              else acc[o] += std::exp(v - peak[o]);
              break;
            default: acc[o] += v; break;
          }
        }
  const double count = static_cast<double>(x.elementCount()) / n;
  for (int64_t o = 0; o < n; ++o) {
    if (op == OpKind::kReduceMean) acc[o] /= count;
    if (op == OpKind::kReduceL2) acc[o] = std::sqrt(acc[o]);
    if (op == OpKind::kReduceLogSumExp) acc[o] = peak[o] + std::log(acc[o]);
  }
  return acc;
}

TEST(ReductionKernels, AxisSetsMatchFloat64) {
  Tensor x = randomFloats({6, 130, 1031}, 1);
  Tensor xp = randomFloats({6, 13, 31}, 2, 0.7f, 1.3f);  // products stay in range
  const std::vector<std::pair<std::vector<int64_t>, std::array<bool, 3>>> sets = {
      {{1}, {false, true, false}}, {{0, 2}, {true, false, true}}, {{-1}, {false, false, true}},
      {{}, {true, true, true}}, {{0}, {true, false, false}}};
  for (OpKind op : {OpKind::kReduceMean, OpKind::kReduceSum, OpKind::kReduceMax, OpKind::kReduceProd,
                    OpKind::kReduceL1, OpKind::kReduceL2, OpKind::kReduceLogSumExp}) {
    const Tensor& in = op == OpKind::kReduceProd ? xp : x;
    for (const auto& [axes, flags] : sets) {
      SCOPED_TRACE(std::string(ir::opKindName(op)) + " over " + std::to_string(axes.size()) + " axes");
      Tensor axesTensor = ints(axes);
      auto y = runNode(op, in, axes.empty() ? nullptr : &axesTensor);
      ASSERT_TRUE(y.hasValue()) << y.status().toString();
      const std::vector<double> ref = reference(op, in, flags);
      ASSERT_EQ(static_cast<size_t>(y->elementCount()), ref.size());
      EXPECT_EQ(y->rank(), 3);  // keepdims defaults to 1
      for (size_t i = 0; i < ref.size(); ++i)
        ASSERT_NEAR(y->dataAs<float>()[i], ref[i], 1e-5 * std::max(1.0, std::abs(ref[i]))) << "at " << i;
    }
  }
}

TEST(ReductionKernels, KeepDimsZeroNoopAndInt64) {
  Tensor x = randomFloats({4, 5, 6}, 3);
  Tensor axes = ints({0, 2});
  ir::Attributes drop;
  drop.set("keepdims", int64_t{0});
  auto y = runNode(OpKind::kReduceSumSquare, x, &axes, drop);
  ASSERT_TRUE(y.hasValue()) << y.status().toString();
  EXPECT_EQ(y->dims(), (Dims{5}));
  Tensor none = ints({});
  ir::Attributes noop;
  noop.set("noop_with_empty_axes", int64_t{1});
  auto same = runNode(OpKind::kReduceL1, x, &none, noop);
  ASSERT_TRUE(same.hasValue()) << same.status().toString();
  ASSERT_EQ(same->dims(), x.dims());
  for (int64_t i = 0; i < x.elementCount(); ++i) ASSERT_EQ(same->dataAs<float>()[i], std::abs(x.dataAs<float>()[i]));

  Tensor big = Tensor::allocate(DataType::kInt64, {3, 4000}).value();
  for (int64_t i = 0; i < big.elementCount(); ++i) big.dataAs<int64_t>()[i] = (i * 7919) % 100003 + (int64_t{1} << 40);
  Tensor last = ints({-1});
  auto s = runNode(OpKind::kReduceSum, big, &last);
  ASSERT_TRUE(s.hasValue()) << s.status().toString();
  for (int64_t r = 0; r < 3; ++r) {
    int64_t ref = 0;
    for (int64_t c = 0; c < 4000; ++c) ref += big.dataAs<int64_t>()[r * 4000 + c];
    EXPECT_EQ(s->dataAs<int64_t>()[r], ref);  // exact: no float accumulation for integers
  }
  auto badAxes = ints({3});
  auto bad = runNode(OpKind::kReduceMean, x, &badAxes);
  ASSERT_FALSE(bad.hasValue());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(bad.status().message().find("'r1' (ReduceMean)"), std::string::npos) << bad.status().message();
}

TEST(ReductionKernels, ArgMaxArgMinSelectLastIndex) {
  Tensor x = Tensor::allocate(DataType::kFloat32, {50, 37, 40}).value();
  for (int64_t i = 0; i < x.elementCount(); ++i) x.dataAs<float>()[i] = static_cast<float>((i * 31) % 5);  // ties
  for (OpKind op : {OpKind::kArgMax, OpKind::kArgMin})
    for (int64_t last : {0, 1}) {
      ir::Attributes a;
      a.set("axis", int64_t{1});
      a.set("keepdims", int64_t{0});
      a.set("select_last_index", last);
      auto y = runNode(op, x, nullptr, a);
      ASSERT_TRUE(y.hasValue()) << y.status().toString();
      ASSERT_EQ(y->dtype(), DataType::kInt64);
      ASSERT_EQ(y->dims(), (Dims{50, 40}));
      for (int64_t o = 0; o < 50; ++o)
        for (int64_t j = 0; j < 40; ++j) {
          int64_t best = 0;
          for (int64_t r = 1; r < 37; ++r) {
            const float v = x.dataAs<float>()[(o * 37 + r) * 40 + j], b = x.dataAs<float>()[(o * 37 + best) * 40 + j];
            const bool better = op == OpKind::kArgMax ? (v > b || (last && v == b)) : (v < b || (last && v == b));
            if (better) best = r;
          }
          ASSERT_EQ(y->dataAs<int64_t>()[o * 40 + j], best);
        }
    }
}

TEST(ReductionKernels, CumSumExclusiveReverseFloat64) {
  Tensor x = randomFloats({30, 200, 17}, 4);
  Tensor axis = ints({-2});
  for (int64_t exclusive : {0, 1})
    for (int64_t reverse : {0, 1}) {
      ir::Attributes a;
      a.set("exclusive", exclusive);
      a.set("reverse", reverse);
      auto y = runNode(OpKind::kCumSum, x, &axis, a);
      ASSERT_TRUE(y.hasValue()) << y.status().toString();
      for (int64_t o = 0; o < 30; ++o)
        for (int64_t j = 0; j < 17; ++j) {
          double acc = 0;
          for (int64_t s = 0; s < 200; ++s) {
            const int64_t r = reverse ? 199 - s : s;
            const int64_t at = (o * 200 + r) * 17 + j;
            if (!exclusive) acc += x.dataAs<float>()[at];
            ASSERT_NEAR(y->dataAs<float>()[at], acc, 1e-5 * std::max(1.0, std::abs(acc)));
            if (exclusive) acc += x.dataAs<float>()[at];
          }
        }
    }
}

}  // namespace
}  // namespace kiln

// Data-movement kernels on one hand-built node: shape inference + CPU kernel against naive references written
// here, at sizes large enough for the OpenMP paths, for non-float dtypes, and for the error paths.
// (tests/ops/cases/data_movement.py covers every attribute variant against onnxruntime.)
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>

#include "backends/cpu/cpu_kernels.h"
#include "ops/shape_inference.h"

namespace kiln {
namespace {

using ir::OpKind;

struct Arg {
  Tensor tensor;       // dtype kUndefined = omitted optional input
  bool known = false;  // contents visible to shape inference (a constant)
};

Arg data(Tensor t) { return {std::move(t), false}; }
Arg known(Tensor t) { return {std::move(t), true}; }

template <typename T>
Tensor makeTensor(DataType type, Dims dims, const std::vector<T>& values) {
  Tensor t = Tensor::allocate(type, std::move(dims)).value();
  EXPECT_EQ(static_cast<size_t>(t.elementCount()), values.size());
  std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
  return t;
}
Tensor ints(std::vector<int64_t> v) { return makeTensor(DataType::kInt64, {static_cast<int64_t>(v.size())}, v); }

Tensor randomFloats(Dims dims, uint32_t seed) {
  Tensor t = Tensor::allocate(DataType::kFloat32, std::move(dims)).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.1f, 2.0f);
  for (int64_t i = 0; i < t.elementCount(); ++i) t.dataAs<float>()[i] = (rng() & 1 ? 1.0f : -1.0f) * u(rng);
  return t;
}
template <typename T>
Tensor randomInts(DataType type, Dims dims, uint32_t seed) {
  Tensor t = Tensor::allocate(type, std::move(dims)).value();
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < t.elementCount(); ++i) t.dataAs<T>()[i] = static_cast<T>(rng() % 1000) - 500;
  return t;
}

/// Builds a one-node graph, infers the outputs and runs the CPU kernel.
Expected<std::vector<Tensor>> runNode(OpKind op, std::vector<Arg> args, ir::Attributes attrs = {}, int outputs = 1) {
  ir::Graph g;
  ir::Node node;
  node.name = "n1";
  node.op = op;
  node.attrs = std::move(attrs);
  std::vector<ops::TensorInfo> infos;
  std::vector<backends::DeviceTensor> ins;
  for (size_t i = 0; i < args.size(); ++i) {
    const Tensor& t = args[i].tensor;
    if (t.dtype() == DataType::kUndefined) {
      node.inputs.push_back(ir::kNoValue);
      infos.push_back({});
      ins.push_back({});
      continue;
    }
    node.inputs.push_back(g.addValue("in" + std::to_string(i), t.dtype()));
    infos.push_back({t.dtype(), t.dims(), args[i].known ? &t : nullptr});
    ins.push_back({t.dtype(), t.dims(), const_cast<void*>(t.data())});
  }
  for (int i = 0; i < outputs; ++i) node.outputs.push_back(g.addValue("out" + std::to_string(i)));
  KILN_ASSIGN_OR_RETURN(std::vector<ops::TensorInfo> outInfo, ops::inferOutputs(g, node, infos));
  std::vector<Tensor> result;
  std::vector<backends::DeviceTensor> outs;
  for (const auto& info : outInfo) {
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(info.dtype, info.dims));
    result.push_back(t);
    outs.push_back({info.dtype, info.dims, result.back().data()});
  }
  KILN_RETURN_IF_ERROR(backends::cpu::executeNode(g, node, ins, outs));
  return result;
}

Dims stridesOf(const Dims& d) {
  Dims s(d.size(), 1);
  for (int64_t i = static_cast<int64_t>(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

// Calls fn(multiIndex, flatIndex) for every element of `dims`.
template <typename Fn>
void forEachIndex(const Dims& dims, Fn&& fn) {
  const int64_t n = elementCount(dims);
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    fn(idx, flat);
    for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
}

TEST(DataMovementKernels, TransposeLargeMatchesNaive) {
  Tensor x = randomFloats({3, 67, 129, 5}, 1);
  ir::Attributes a;
  a.set("perm", std::vector<int64_t>{2, 0, 3, 1});
  auto r = runNode(OpKind::kTranspose, {data(x)}, a);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dims(), (Dims{129, 3, 5, 67}));
  const Dims xs = stridesOf(x.dims());
  forEachIndex(y.dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    const int64_t src = i[1] * xs[0] + i[3] * xs[1] + i[0] * xs[2] + i[2] * xs[3];
    ASSERT_EQ(y.dataAs<float>()[flat], x.dataAs<float>()[src]) << "at " << flat;
  });
}

TEST(DataMovementKernels, TransposeInt64AndBoolDefaultPerm) {
  Tensor x = randomInts<int64_t>(DataType::kInt64, {301, 257}, 2);
  auto r = runNode(OpKind::kTranspose, {data(x)});
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  for (int64_t i = 0; i < 257; ++i)
    for (int64_t j = 0; j < 301; ++j) ASSERT_EQ((*r)[0].dataAs<int64_t>()[i * 301 + j], x.dataAs<int64_t>()[j * 257 + i]);
  std::vector<uint8_t> bits(7 * 5);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = (i * 7 + 3) % 3 == 0;
  Tensor b = makeTensor(DataType::kBool, {7, 5}, bits);
  auto rb = runNode(OpKind::kTranspose, {data(b)});
  ASSERT_TRUE(rb.hasValue()) << rb.status().toString();
  EXPECT_EQ((*rb)[0].dtype(), DataType::kBool);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 7; ++j) ASSERT_EQ((*rb)[0].dataAs<uint8_t>()[i * 7 + j], bits[j * 5 + i]);
}

TEST(DataMovementKernels, SliceNegativeStepsAndHugeBounds) {
  Tensor x = randomFloats({40, 50, 33}, 3);
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  auto r = runNode(OpKind::kSlice, {data(x), known(ints({-1, 3})), known(ints({small, big})),
                                    known(ints({0, -1})), known(ints({-2, 4}))});
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dims(), (Dims{20, 50, 8}));  // rows 39, 37, ..., 1; columns 3, 7, ..., 31
  forEachIndex(y.dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    const int64_t src = (39 - 2 * i[0]) * 50 * 33 + i[1] * 33 + 3 + 4 * i[2];
    ASSERT_EQ(y.dataAs<float>()[flat], x.dataAs<float>()[src]);
  });
}

TEST(DataMovementKernels, GatherLargeNegativeIndicesInt32Data) {
  Tensor x = randomInts<int32_t>(DataType::kInt32, {5, 301, 67}, 4);
  std::vector<int32_t> idx = {-1, 0, 300, -301, 150, 7};
  ir::Attributes a;
  a.set("axis", int64_t{-2});
  auto r = runNode(OpKind::kGather, {data(x), data(makeTensor(DataType::kInt32, {2, 3}, idx))}, a);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  ASSERT_EQ((*r)[0].dims(), (Dims{5, 2, 3, 67}));
  forEachIndex((*r)[0].dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    int64_t k = idx[i[1] * 3 + i[2]];
    if (k < 0) k += 301;
    ASSERT_EQ((*r)[0].dataAs<int32_t>()[flat], x.dataAs<int32_t>()[(i[0] * 301 + k) * 67 + i[3]]);
  });
}

TEST(DataMovementKernels, OutOfRangeIndexIsAnErrorNotACrash) {
  Tensor x = randomFloats({7, 3}, 5);
  auto r = runNode(OpKind::kGather, {data(x), data(ints({0, 7}))});
  ASSERT_FALSE(r.hasValue());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("n1"), std::string::npos) << r.status().message();
  auto s = runNode(OpKind::kScatterElements,
                   {data(x), data(makeTensor(DataType::kInt64, {1, 1}, std::vector<int64_t>{-8})),
                    data(randomFloats({1, 1}, 6))});
  ASSERT_FALSE(s.hasValue());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

TEST(DataMovementKernels, ShapeInputsMustBeKnownAndConsistent) {
  Tensor x = randomFloats({4, 6}, 7);
  auto unknown = runNode(OpKind::kReshape, {data(x), data(ints({24}))});
  ASSERT_FALSE(unknown.hasValue());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(unknown.status().message().find("'shape'"), std::string::npos);
  auto bad = runNode(OpKind::kReshape, {data(x), known(ints({5, -1}))});
  ASSERT_FALSE(bad.hasValue());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(bad.status().message().find("'n1' (Reshape)"), std::string::npos) << bad.status().message();
  auto twoMinus = runNode(OpKind::kReshape, {data(x), known(ints({-1, -1}))});
  EXPECT_FALSE(twoMinus.hasValue());
  auto zeroStep = runNode(OpKind::kSlice, {data(x), known(ints({0})), known(ints({3})), known(ints({0})),
                                           known(ints({0}))});
  ASSERT_FALSE(zeroStep.hasValue());
  EXPECT_NE(zeroStep.status().message().find("'steps'"), std::string::npos);
  auto ok = runNode(OpKind::kReshape, {data(x), known(ints({0, -1, 2}))});
  ASSERT_TRUE(ok.hasValue()) << ok.status().toString();
  EXPECT_EQ((*ok)[0].dims(), (Dims{4, 3, 2}));
  EXPECT_EQ(std::memcmp((*ok)[0].data(), x.data(), x.byteSize()), 0);
}

TEST(DataMovementKernels, DepthToSpaceAndBackInt64) {
  Tensor x = randomInts<int64_t>(DataType::kInt64, {2, 18, 5, 7}, 8);
  for (const char* mode : {"DCR", "CRD"}) {
    ir::Attributes a;
    a.set("blocksize", int64_t{3});
    a.set("mode", std::string(mode));
    auto r = runNode(OpKind::kDepthToSpace, {data(x)}, a);
    ASSERT_TRUE(r.hasValue()) << r.status().toString();
    ASSERT_EQ((*r)[0].dims(), (Dims{2, 2, 15, 21}));
    const bool dcr = std::string(mode) == "DCR";
    forEachIndex((*r)[0].dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
      const int64_t b1 = i[2] % 3, b2 = i[3] % 3;
      const int64_t c = dcr ? (b1 * 3 + b2) * 2 + i[1] : i[1] * 9 + b1 * 3 + b2;
      ASSERT_EQ((*r)[0].dataAs<int64_t>()[flat], x.dataAs<int64_t>()[((i[0] * 18 + c) * 5 + i[2] / 3) * 7 + i[3] / 3]);
    });
    if (dcr) {  // SpaceToDepth inverts DCR DepthToSpace
      ir::Attributes b;
      b.set("blocksize", int64_t{3});
      auto back = runNode(OpKind::kSpaceToDepth, {data((*r)[0])}, b);
      ASSERT_TRUE(back.hasValue()) << back.status().toString();
      ASSERT_EQ((*back)[0].dims(), x.dims());
      EXPECT_EQ(std::memcmp((*back)[0].data(), x.data(), x.byteSize()), 0);
    }
  }
}

// Bilinear, half_pixel (what torch exports for align_corners=False), against a float64 evaluation.
TEST(DataMovementKernels, ResizeLinearLargeMatchesFloat64) {
  Tensor x = randomFloats({2, 3, 61, 47}, 9);
  ir::Attributes a;
  a.set("mode", std::string("linear"));
  auto r = runNode(OpKind::kResize, {data(x), {}, {}, known(ints({2, 3, 128, 100}))}, a);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dims(), (Dims{2, 3, 128, 100}));
  auto taps = [](int64_t o, int64_t inLen, int64_t outLen, int64_t& i0, int64_t& i1, double& w1) {
    double s = static_cast<double>(outLen) / inLen;
    double c = std::clamp((o + 0.5) / s - 0.5, 0.0, static_cast<double>(inLen - 1));
    i0 = static_cast<int64_t>(c);
    i1 = std::min(i0 + 1, inLen - 1);
    w1 = c - i0;
  };
  double worst = 0;
  forEachIndex(y.dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    int64_t h0, h1, w0, w1i;
    double wh, ww;
    taps(i[2], 61, 128, h0, h1, wh);
    taps(i[3], 47, 100, w0, w1i, ww);
    const float* p = x.dataAs<float>() + (i[0] * 3 + i[1]) * 61 * 47;
    const double ref = (1 - wh) * ((1 - ww) * p[h0 * 47 + w0] + ww * p[h0 * 47 + w1i]) +
                       wh * ((1 - ww) * p[h1 * 47 + w0] + ww * p[h1 * 47 + w1i]);
    worst = std::max(worst, std::abs(y.dataAs<float>()[flat] - ref));
  });
  EXPECT_LT(worst, 2e-5);  // inputs |x| <= 2, float32 weights: a few ulps
}

TEST(DataMovementKernels, ResizeNearestInt64AsymmetricFloor) {
  Tensor x = randomInts<int64_t>(DataType::kInt64, {1, 2, 5, 7}, 10);
  ir::Attributes a;
  a.set("mode", std::string("nearest"));
  a.set("coordinate_transformation_mode", std::string("asymmetric"));
  a.set("nearest_mode", std::string("floor"));
  auto r = runNode(OpKind::kResize,
                   {data(x), {}, known(makeTensor(DataType::kFloat32, {4}, std::vector<float>{1, 1, 2, 3}))}, a);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  ASSERT_EQ((*r)[0].dims(), (Dims{1, 2, 10, 21}));
  forEachIndex((*r)[0].dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    ASSERT_EQ((*r)[0].dataAs<int64_t>()[flat], x.dataAs<int64_t>()[(i[1] * 5 + i[2] / 2) * 7 + i[3] / 3]);
  });
}

TEST(DataMovementKernels, PadReflectLargeAndConstantBool) {
  Tensor x = randomFloats({2, 300, 130}, 11);
  ir::Attributes a;
  a.set("mode", std::string("reflect"));
  auto r = runNode(OpKind::kPad, {data(x), known(ints({0, 5, 129, 0, 2, 7}))}, a);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  ASSERT_EQ((*r)[0].dims(), (Dims{2, 307, 266}));
  auto reflect = [](int64_t i, int64_t n) {
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  };
  forEachIndex((*r)[0].dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    const int64_t h = reflect(i[1] - 5, 300), w = reflect(i[2] - 129, 130);
    ASSERT_EQ((*r)[0].dataAs<float>()[flat], x.dataAs<float>()[(i[0] * 300 + h) * 130 + w]);
  });
  Tensor b = makeTensor(DataType::kBool, {2, 2}, std::vector<uint8_t>{1, 0, 0, 1});
  Tensor one = makeTensor(DataType::kBool, {}, std::vector<uint8_t>{1});
  auto rb = runNode(OpKind::kPad, {data(b), known(ints({1, 0, 0, 1})), data(one)});
  ASSERT_TRUE(rb.hasValue()) << rb.status().toString();
  const std::vector<uint8_t> expected = {1, 1, 1, 1, 0, 1, 0, 1, 1};
  EXPECT_EQ(std::memcmp((*rb)[0].data(), expected.data(), expected.size()), 0);
}

TEST(DataMovementKernels, ConcatSplitRoundTripAndExpandTileLarge) {
  Tensor a = randomFloats({3, 100, 257}, 12), b = randomFloats({3, 33, 257}, 13);
  ir::Attributes axis1;
  axis1.set("axis", int64_t{1});
  auto c = runNode(OpKind::kConcat, {data(a), data(b)}, axis1);
  ASSERT_TRUE(c.hasValue()) << c.status().toString();
  ASSERT_EQ((*c)[0].dims(), (Dims{3, 133, 257}));
  auto s = runNode(OpKind::kSplit, {data((*c)[0]), known(ints({100, 33}))}, axis1, 2);
  ASSERT_TRUE(s.hasValue()) << s.status().toString();
  EXPECT_EQ(std::memcmp((*s)[0].data(), a.data(), a.byteSize()), 0);
  EXPECT_EQ(std::memcmp((*s)[1].data(), b.data(), b.byteSize()), 0);

  Tensor x = randomInts<int32_t>(DataType::kInt32, {1, 300, 1}, 14);
  auto e = runNode(OpKind::kExpand, {data(x), known(ints({4, 1, 200}))});
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  ASSERT_EQ((*e)[0].dims(), (Dims{4, 300, 200}));
  auto t = runNode(OpKind::kTile, {data(x), known(ints({4, 2, 200}))});
  ASSERT_TRUE(t.hasValue()) << t.status().toString();
  ASSERT_EQ((*t)[0].dims(), (Dims{4, 600, 200}));
  forEachIndex((*e)[0].dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    ASSERT_EQ((*e)[0].dataAs<int32_t>()[flat], x.dataAs<int32_t>()[i[1]]);
  });
  forEachIndex((*t)[0].dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    ASSERT_EQ((*t)[0].dataAs<int32_t>()[flat], x.dataAs<int32_t>()[i[1] % 300]);
  });
}

TEST(DataMovementKernels, ScatterNDAddAppliesDuplicatesAndGatherNDBatch) {
  Tensor x = randomFloats({6, 5}, 15);
  Tensor idx = makeTensor(DataType::kInt64, {3, 1}, std::vector<int64_t>{2, -1, 2});
  Tensor upd = randomFloats({3, 5}, 16);
  ir::Attributes a;
  a.set("reduction", std::string("add"));
  auto r = runNode(OpKind::kScatterND, {data(x), data(idx), data(upd)}, a);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      double ref = x.dataAs<float>()[i * 5 + j];
      if (i == 2) ref += static_cast<double>(upd.dataAs<float>()[j]) + upd.dataAs<float>()[10 + j];
      if (i == 5) ref += upd.dataAs<float>()[5 + j];
      EXPECT_NEAR((*r)[0].dataAs<float>()[i * 5 + j], ref, 1e-6);
    }
  Tensor d = randomFloats({2, 3, 4}, 17);
  ir::Attributes bd;
  bd.set("batch_dims", int64_t{1});
  auto g = runNode(OpKind::kGatherND,
                   {data(d), data(makeTensor(DataType::kInt64, {2, 2}, std::vector<int64_t>{1, -1, 2, 0}))}, bd);
  ASSERT_TRUE(g.hasValue()) << g.status().toString();
  ASSERT_EQ((*g)[0].dims(), (Dims{2}));
  EXPECT_EQ((*g)[0].dataAs<float>()[0], d.dataAs<float>()[0 * 12 + 1 * 4 + 3]);
  EXPECT_EQ((*g)[0].dataAs<float>()[1], d.dataAs<float>()[1 * 12 + 2 * 4 + 0]);
}

TEST(DataMovementKernels, TriluLowerWithK) {
  Tensor x = randomInts<int64_t>(DataType::kInt64, {3, 5, 7}, 18);
  ir::Attributes a;
  a.set("upper", int64_t{0});
  auto r = runNode(OpKind::kTrilu, {data(x), data(makeTensor(DataType::kInt64, {}, std::vector<int64_t>{2}))}, a);
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  forEachIndex(x.dims(), [&](const std::vector<int64_t>& i, int64_t flat) {
    ASSERT_EQ((*r)[0].dataAs<int64_t>()[flat], i[2] - i[1] <= 2 ? x.dataAs<int64_t>()[flat] : 0);
  });
}

}  // namespace
}  // namespace kiln

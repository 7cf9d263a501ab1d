// Elementwise ops: shape inference + CPU kernels against float64 / exact references computed here.
// Tolerance for float32 math: |got - ref| <= 2e-6 * |ref| + 1e-6 (a few float32 ulps; the kernels compute in float).
#include <cmath>
#include <functional>
#include <limits>

#include "elementwise_test_util.h"
#include "ops/broadcast.h"

namespace kiln {
namespace {

using ir::OpKind;
using namespace testing_util;

void expectClose(const Tensor& got, const std::vector<double>& ref, const std::string& what, double rtol = 2e-6,
                 double atol = 1e-6) {
  ASSERT_EQ(got.dtype(), DataType::kFloat32) << what;
  ASSERT_EQ(static_cast<size_t>(got.elementCount()), ref.size()) << what;
  const float* p = got.dataAs<float>();
  int bad = 0;
  for (size_t i = 0; i < ref.size() && bad < 5; ++i) {
    if (std::isnan(ref[i]) && std::isnan(p[i])) continue;
    if (!(std::fabs(p[i] - ref[i]) <= rtol * std::fabs(ref[i]) + atol)) {
      ADD_FAILURE() << what << " at " << i << ": got " << p[i] << " expected " << ref[i];
      ++bad;
    }
  }
}

template <typename T>
void expectEqual(const Tensor& got, const std::vector<T>& ref, const std::string& what) {
  ASSERT_EQ(static_cast<size_t>(got.elementCount()), ref.size()) << what;
  const T* p = got.dataAs<T>();
  int bad = 0;
  for (size_t i = 0; i < ref.size() && bad < 5; ++i)
    if (p[i] != ref[i]) {
      ADD_FAILURE() << what << " at " << i << ": got " << +p[i] << " expected " << +ref[i];
      ++bad;
    }
}

// ---- broadcasting ----

TEST(Broadcast, ShapesFollowNumpyRules) {
  EXPECT_EQ(ops::broadcastShapes(Dims{2, 3, 5}, Dims{3, 1}).value(), (Dims{2, 3, 5}));
  EXPECT_EQ(ops::broadcastShapes(Dims{}, Dims{4}).value(), (Dims{4}));
  EXPECT_EQ(ops::broadcastShapes(Dims{1, 7}, Dims{6, 1}).value(), (Dims{6, 7}));
  EXPECT_EQ(ops::broadcastShapes(Dims{0, 1}, Dims{1, 5}).value(), (Dims{0, 5}));
  auto bad = ops::broadcastShapes(Dims{2, 3}, Dims{4, 3}, "here: ");
  ASSERT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("here: "), std::string::npos);
  EXPECT_NE(bad.status().message().find("dim 0"), std::string::npos) << bad.status().message();
}

TEST(Broadcast, PlanVisitsEveryElementWithTheRightOffsets) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{7, 13}, {7, 13}},        {{2, 3, 5, 7}, {3, 1, 7}}, {{1}, {5, 1, 3}},      {{}, {4, 5}},
      {{2, 1, 5}, {1, 4, 1}},    {{3, 4, 5, 6}, {1, 4, 1, 1}}, {{13}, {6, 13}},   {{6, 1, 1, 2}, {6, 3, 4, 1}}};
  for (const auto& [a, b] : cases) {
    const Dims out = ops::broadcastShapes(a, b).value();
    const Dims shapes[2] = {a, b};
    const ops::BroadcastPlan plan(std::span<const Dims>(shapes, 2), out);
    const int64_t total = elementCount(out);
    ASSERT_EQ(plan.totalElements(), total);
    // Every split point must give the same answer (threads start mid-row).
    for (int64_t begin : {int64_t(0), total / 3, total - 1}) {
      std::vector<int> seen(static_cast<size_t>(total), 0);
      plan.forEachSpan(begin, total, [&](int64_t o, std::span<const int64_t> in, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          ++seen[o + i];
          EXPECT_EQ(in[0] + i * plan.innerStride(0), testing_util::broadcastIndex(a, out, o + i));
          EXPECT_EQ(in[1] + i * plan.innerStride(1), testing_util::broadcastIndex(b, out, o + i));
        }
      });
      for (int64_t i = 0; i < total; ++i) ASSERT_EQ(seen[i], i >= begin ? 1 : 0) << dimsToString(out);
    }
  }
}

// ---- binary float ----

struct BinaryCase {
  OpKind op;
  std::function<double(double, double)> ref;
  float lo = -2, hi = 2;     // input range of A
  float blo = -2, bhi = 2;   // input range of B
  ir::Attributes attrs = {};
};

const std::vector<std::pair<Dims, Dims>> kBinaryShapes = {
    {{7, 13}, {7, 13}}, {{2, 3, 5, 7}, {3, 1, 7}}, {{1}, {5, 1, 3}},         {{}, {4, 5}},
    {{2, 1, 5}, {1, 4, 1}}, {{3, 4, 5, 6}, {1, 4, 1, 1}}, {{6, 13}, {13}}, {{5, 1}, {}},
    {{65, 1031}, {1031}},  // large enough to run on several threads
    {{4, 16, 33, 17}, {1, 16, 1, 1}},
};

void runBinaryFloat(const BinaryCase& c) {
  uint32_t seed = 1;
  for (const auto& [da, db] : kBinaryShapes) {
    const Dims out = ops::broadcastShapes(da, db).value();
    auto va = randomFloats(elementCount(da), c.lo, c.hi, seed++);
    auto vb = randomFloats(elementCount(db), c.blo, c.bhi, seed++);
    auto got = testing_util::runNode(c.op, {makeTensor(DataType::kFloat32, da, va),
                                            makeTensor(DataType::kFloat32, db, vb)}, c.attrs);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    ASSERT_EQ(got->at(0).dims(), out);
    std::vector<double> ref(static_cast<size_t>(elementCount(out)));
    for (int64_t i = 0; i < elementCount(out); ++i)
      ref[i] = c.ref(va[broadcastIndex(da, out, i)], vb[broadcastIndex(db, out, i)]);
    expectClose(got->at(0), ref,
                std::string(ir::opKindName(c.op)) + " " + dimsToString(da) + " with " + dimsToString(db));
  }
}

TEST(ElementwiseBinary, FloatOpsMatchFloat64Reference) {
  ir::Attributes fmod1;
  fmod1.set("fmod", int64_t(1));
  const std::vector<BinaryCase> cases = {
      {OpKind::kAdd, [](double a, double b) { return a + b; }},
      {OpKind::kSub, [](double a, double b) { return a - b; }},
      {OpKind::kMul, [](double a, double b) { return a * b; }},
      {OpKind::kDiv, [](double a, double b) { return a / b; }, -2, 2, 0.5, 2},
      {OpKind::kPow, [](double a, double b) { return std::pow(a, b); }, 0.1f, 3, -2, 2},
      {OpKind::kMax, [](double a, double b) { return std::max(a, b); }},
      {OpKind::kMin, [](double a, double b) { return std::min(a, b); }},
      {OpKind::kMod, [](double a, double b) { return std::fmod(a, b); }, -5, 5, 0.5, 2, fmod1},
  };
  for (const auto& c : cases) runBinaryFloat(c);
}

TEST(ElementwiseBinary, PowWithScalarAndIntegerExponents) {
  const Dims d{3, 7};
  auto x = randomFloats(21, -3, 3, 5);
  for (float e : {2.0f, 0.5f, 1.0f, 3.0f}) {
    std::vector<double> ref;
    for (float v : x) ref.push_back(std::pow(double(e == 0.5f ? std::fabs(v) : v), double(e)));
    std::vector<float> xin = x;
    if (e == 0.5f)
      for (auto& v : xin) v = std::fabs(v);
    auto got = runNode(OpKind::kPow, {makeTensor(DataType::kFloat32, d, xin),
                                      makeTensor(DataType::kFloat32, {}, std::vector<float>{e})});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    expectClose(got->at(0), ref, "Pow exponent " + std::to_string(e));
  }
  auto exps = std::vector<int64_t>{-2, 3, 1, 0, 2, 5, -1};
  auto got = runNode(OpKind::kPow, {makeTensor(DataType::kFloat32, d, x),
                                    makeTensor(DataType::kInt64, {7}, exps)});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  std::vector<double> ref;
  for (int i = 0; i < 21; ++i) ref.push_back(std::pow(double(x[i]), double(exps[i % 7])));
  expectClose(got->at(0), ref, "Pow int64 exponent");
}

TEST(ElementwiseBinary, PReluBroadcastsSlopeToX) {
  const Dims dx{2, 5, 3, 3};
  auto x = randomFloats(90, -2, 2, 11);
  for (const Dims& ds : {Dims{5, 1, 1}, Dims{1}, Dims{3}, Dims{2, 5, 3, 3}}) {
    auto s = randomFloats(elementCount(ds), 0.05f, 0.5f, 12);
    auto got = runNode(OpKind::kPRelu, {makeTensor(DataType::kFloat32, dx, x), makeTensor(DataType::kFloat32, ds, s)});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    std::vector<double> ref;
    for (int64_t i = 0; i < 90; ++i) ref.push_back(x[i] < 0 ? double(x[i]) * s[broadcastIndex(ds, dx, i)] : x[i]);
    expectClose(got->at(0), ref, "PRelu slope " + dimsToString(ds));
  }
  // The slope may not grow X.
  auto bad = runNode(OpKind::kPRelu, {makeTensor(DataType::kFloat32, {3}, std::vector<float>{1, 2, 3}),
                                      makeTensor(DataType::kFloat32, {2, 3}, std::vector<float>(6, 0.1f))});
  EXPECT_FALSE(bad.hasValue());
}

TEST(ElementwiseBinary, VariadicMaxMinAndSingleInput) {
  const Dims a{4, 1, 5}, b{3, 1}, c{5};
  auto va = randomFloats(20, -2, 2, 21), vb = randomFloats(3, -2, 2, 22), vc = randomFloats(5, -2, 2, 23);
  const Dims out{4, 3, 5};
  for (OpKind op : {OpKind::kMax, OpKind::kMin}) {
    auto got = runNode(op, {makeTensor(DataType::kFloat32, a, va), makeTensor(DataType::kFloat32, b, vb),
                            makeTensor(DataType::kFloat32, c, vc)});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    ASSERT_EQ(got->at(0).dims(), out);
    std::vector<double> ref;
    for (int64_t i = 0; i < 60; ++i) {
      double x = va[broadcastIndex(a, out, i)], y = vb[broadcastIndex(b, out, i)], z = vc[broadcastIndex(c, out, i)];
      ref.push_back(op == OpKind::kMax ? std::max({x, y, z}) : std::min({x, y, z}));
    }
    expectClose(got->at(0), ref, std::string(ir::opKindName(op)) + " of three");
  }
  auto one = runNode(OpKind::kMax, {makeTensor(DataType::kFloat32, c, vc)});
  ASSERT_TRUE(one.hasValue()) << one.status().toString();
  expectClose(one->at(0), std::vector<double>(vc.begin(), vc.end()), "Max of one");
}

// ---- integers ----

template <typename T>
void checkIntegerOps(DataType dtype) {
  const Dims da{3, 1, 7}, db{5, 7};
  const Dims out{3, 5, 7};
  auto va = randomInts<T>(21, -50, 50, 31);
  auto vb = randomInts<T>(35, -9, 9, 32);
  // Python-style modulo and C-style truncation, computed in double/int64 here.
  auto floorMod = [](int64_t x, int64_t y) { return x - y * static_cast<int64_t>(std::floor(double(x) / double(y))); };
  struct Op {
    OpKind op;
    int64_t fmod;
    std::function<int64_t(int64_t, int64_t)> ref;
  };
  const std::vector<Op> ops = {
      {OpKind::kAdd, 0, [](int64_t x, int64_t y) { return x + y; }},
      {OpKind::kSub, 0, [](int64_t x, int64_t y) { return x - y; }},
      {OpKind::kMul, 0, [](int64_t x, int64_t y) { return x * y; }},
      {OpKind::kDiv, 0, [](int64_t x, int64_t y) { return static_cast<int64_t>(std::trunc(double(x) / double(y))); }},
      {OpKind::kMod, 0, floorMod},
      {OpKind::kMod, 1, [](int64_t x, int64_t y) { return static_cast<int64_t>(std::fmod(double(x), double(y))); }},
      {OpKind::kMax, 0, [](int64_t x, int64_t y) { return std::max(x, y); }},
      {OpKind::kMin, 0, [](int64_t x, int64_t y) { return std::min(x, y); }},
  };
  for (const auto& o : ops) {
    ir::Attributes attrs;
    if (o.op == OpKind::kMod) attrs.set("fmod", o.fmod);
    auto got = runNode(o.op, {makeTensor(dtype, da, va), makeTensor(dtype, db, vb)}, attrs);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    ASSERT_EQ(got->at(0).dtype(), dtype);
    std::vector<T> ref;
    for (int64_t i = 0; i < 105; ++i)
      ref.push_back(static_cast<T>(o.ref(va[broadcastIndex(da, out, i)], vb[broadcastIndex(db, out, i)])));
    expectEqual(got->at(0), ref, std::string(ir::opKindName(o.op)) + " fmod=" + std::to_string(o.fmod) + " " +
                                     dataTypeName(dtype));
  }
  for (OpKind op : {OpKind::kNeg, OpKind::kAbs, OpKind::kSign}) {
    auto got = runNode(op, {makeTensor(dtype, da, va)});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    std::vector<T> ref;
    for (T x : va) ref.push_back(op == OpKind::kNeg ? T(-x) : op == OpKind::kAbs ? T(x < 0 ? -x : x) : T((x > 0) - (x < 0)));
    expectEqual(got->at(0), ref, std::string(ir::opKindName(op)) + " " + dataTypeName(dtype));
  }
  // Division by zero is reported, not a crash.
  std::vector<T> withZero = vb;
  withZero[17] = 0;
  for (OpKind op : {OpKind::kDiv, OpKind::kMod}) {
    auto bad = runNode(op, {makeTensor(dtype, da, va), makeTensor(dtype, db, withZero)});
    ASSERT_FALSE(bad.hasValue());
    EXPECT_NE(bad.status().message().find("zero"), std::string::npos) << bad.status().message();
  }
}

TEST(ElementwiseInteger, Int64Ops) { checkIntegerOps<int64_t>(DataType::kInt64); }
TEST(ElementwiseInteger, Int32Ops) { checkIntegerOps<int32_t>(DataType::kInt32); }

TEST(ElementwiseInteger, DivisionExtremesWrapInsteadOfTrapping) {
  const int32_t lo = std::numeric_limits<int32_t>::lowest();
  auto got = runNode(OpKind::kDiv, {makeTensor(DataType::kInt32, {2}, std::vector<int32_t>{lo, 7}),
                                    makeTensor(DataType::kInt32, {2}, std::vector<int32_t>{-1, -2})});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  expectEqual(got->at(0), std::vector<int32_t>{lo, -3}, "Div extremes");
}

// ---- comparisons and logic ----

TEST(ElementwiseCompare, FloatAndIntegerComparisonsGiveBool) {
  const Dims da{4, 1, 6}, db{3, 6};
  const Dims out{4, 3, 6};
  auto va = randomFloats(24, -2, 2, 41), vb = randomFloats(18, -2, 2, 42);
  va[0] = vb[0];  // some equal elements
  va[7] = vb[1];
  auto ia = randomInts<int64_t>(24, -3, 3, 43), ib = randomInts<int64_t>(18, -3, 3, 44);
  const std::vector<std::pair<OpKind, std::function<bool(double, double)>>> ops = {
      {OpKind::kEqual, [](double x, double y) { return x == y; }},
      {OpKind::kGreater, [](double x, double y) { return x > y; }},
      {OpKind::kGreaterOrEqual, [](double x, double y) { return x >= y; }},
      {OpKind::kLess, [](double x, double y) { return x < y; }},
      {OpKind::kLessOrEqual, [](double x, double y) { return x <= y; }}};
  for (const auto& [op, ref] : ops) {
    auto f = runNode(op, {makeTensor(DataType::kFloat32, da, va), makeTensor(DataType::kFloat32, db, vb)});
    auto i = runNode(op, {makeTensor(DataType::kInt64, da, ia), makeTensor(DataType::kInt64, db, ib)});
    ASSERT_TRUE(f.hasValue()) << f.status().toString();
    ASSERT_TRUE(i.hasValue()) << i.status().toString();
    ASSERT_EQ(f->at(0).dtype(), DataType::kBool);
    std::vector<uint8_t> rf, ri;
    for (int64_t k = 0; k < 72; ++k) {
      rf.push_back(ref(va[broadcastIndex(da, out, k)], vb[broadcastIndex(db, out, k)]));
      ri.push_back(ref(double(ia[broadcastIndex(da, out, k)]), double(ib[broadcastIndex(db, out, k)])));
    }
    expectEqual(f->at(0), rf, std::string(ir::opKindName(op)) + " float32");
    expectEqual(i->at(0), ri, std::string(ir::opKindName(op)) + " int64");
  }
}

TEST(ElementwiseLogic, AndOrXorNotOnBool) {
  const Dims da{5, 1}, db{1, 7};
  std::vector<uint8_t> a{1, 0, 1, 1, 0}, b{0, 1, 1, 0, 1, 0, 1};
  for (OpKind op : {OpKind::kAnd, OpKind::kOr, OpKind::kXor}) {
    auto got = runNode(op, {makeTensor(DataType::kBool, da, a), makeTensor(DataType::kBool, db, b)});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    std::vector<uint8_t> ref;
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 7; ++j)
        ref.push_back(op == OpKind::kAnd ? (a[i] && b[j]) : op == OpKind::kOr ? (a[i] || b[j]) : (a[i] != b[j]));
    expectEqual(got->at(0), ref, std::string(ir::opKindName(op)));
  }
  auto got = runNode(OpKind::kNot, {makeTensor(DataType::kBool, da, a)});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  expectEqual(got->at(0), std::vector<uint8_t>{0, 1, 0, 0, 1}, "Not");
  auto bad = runNode(OpKind::kAnd, {makeTensor(DataType::kFloat32, {1}, std::vector<float>{1}),
                                    makeTensor(DataType::kFloat32, {1}, std::vector<float>{1})});
  EXPECT_FALSE(bad.hasValue());
}

// ---- Where ----

TEST(ElementwiseWhere, ThreeWayBroadcastForSeveralElementSizes) {
  const Dims dc{3, 1, 5}, dx{4, 1}, dy{5};
  const Dims out{3, 4, 5};
  std::vector<uint8_t> cond;
  for (int i = 0; i < 15; ++i) cond.push_back((i * 7 + 3) % 3 == 0);
  auto x = randomFloats(4, -2, 2, 51), y = randomFloats(5, -2, 2, 52);
  auto got = runNode(OpKind::kWhere, {makeTensor(DataType::kBool, dc, cond), makeTensor(DataType::kFloat32, dx, x),
                                      makeTensor(DataType::kFloat32, dy, y)});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  ASSERT_EQ(got->at(0).dims(), out);
  std::vector<double> ref;
  for (int64_t i = 0; i < 60; ++i)
    ref.push_back(cond[broadcastIndex(dc, out, i)] ? x[broadcastIndex(dx, out, i)] : y[broadcastIndex(dy, out, i)]);
  expectClose(got->at(0), ref, "Where float32", 0, 0);

  std::vector<int64_t> ix{-1, 2, -3, 4}, iy{10, 20, 30, 40, 50};
  auto gi = runNode(OpKind::kWhere, {makeTensor(DataType::kBool, dc, cond), makeTensor(DataType::kInt64, dx, ix),
                                     makeTensor(DataType::kInt64, dy, iy)});
  ASSERT_TRUE(gi.hasValue()) << gi.status().toString();
  std::vector<int64_t> refi;
  for (int64_t i = 0; i < 60; ++i)
    refi.push_back(cond[broadcastIndex(dc, out, i)] ? ix[broadcastIndex(dx, out, i)] : iy[broadcastIndex(dy, out, i)]);
  expectEqual(gi->at(0), refi, "Where int64");

  // Same-shape fast path on a large tensor (several threads).
  const int64_t n = 100003;
  std::vector<uint8_t> c2(n);
  for (int64_t i = 0; i < n; ++i) c2[i] = (i % 3) == 1;
  auto a2 = randomFloats(n, -2, 2, 53), b2 = randomFloats(n, -2, 2, 54);
  auto g2 = runNode(OpKind::kWhere, {makeTensor(DataType::kBool, {n}, c2), makeTensor(DataType::kFloat32, {n}, a2),
                                     makeTensor(DataType::kFloat32, {n}, b2)});
  ASSERT_TRUE(g2.hasValue());
  std::vector<double> r2;
  for (int64_t i = 0; i < n; ++i) r2.push_back(c2[i] ? a2[i] : b2[i]);
  expectClose(g2->at(0), r2, "Where large", 0, 0);

  auto bad = runNode(OpKind::kWhere, {makeTensor(DataType::kFloat32, {1}, std::vector<float>{1}),
                                      makeTensor(DataType::kFloat32, {1}, std::vector<float>{1}),
                                      makeTensor(DataType::kFloat32, {1}, std::vector<float>{1})});
  EXPECT_FALSE(bad.hasValue()) << "a float condition must be refused";
}

// ---- shape inference errors ----

TEST(ElementwiseInference, RefusesBadModelsWithTheNodeNamed) {
  auto f = [](Dims d) { return makeTensor(DataType::kFloat32, d, std::vector<float>(elementCount(d), 1.0f)); };
  auto i64 = [](Dims d) { return makeTensor(DataType::kInt64, d, std::vector<int64_t>(elementCount(d), 1)); };
  auto mismatch = runNode(OpKind::kAdd, {f({2, 3}), f({4, 3})});
  ASSERT_FALSE(mismatch.hasValue());
  EXPECT_NE(mismatch.status().message().find("node 'n' (Add)"), std::string::npos) << mismatch.status().message();
  EXPECT_FALSE(runNode(OpKind::kAdd, {f({2}), i64({2})}).hasValue());
  EXPECT_FALSE(runNode(OpKind::kAdd, {f({2})}).hasValue());
  ir::Attributes gelu;
  gelu.set("approximate", std::string("fast"));
  EXPECT_FALSE(runNode(OpKind::kGelu, {f({2})}, gelu).hasValue());
  ir::Attributes wrongKind;
  wrongKind.set("alpha", int64_t(2));
  EXPECT_FALSE(runNode(OpKind::kLeakyRelu, {f({2})}, wrongKind).hasValue());
  EXPECT_FALSE(runNode(OpKind::kSigmoid, {i64({2})}).hasValue()) << "Sigmoid is float-only";
  EXPECT_FALSE(runNode(OpKind::kClip, {f({3}), f({2})}).hasValue()) << "Clip min must be a scalar";
  EXPECT_FALSE(runNode(OpKind::kCast, {f({2})}).hasValue()) << "Cast needs 'to'";
  // Zero-sized outputs are fine.
  auto empty = runNode(OpKind::kAdd, {f({0, 3}), f({1, 3})});
  ASSERT_TRUE(empty.hasValue()) << empty.status().toString();
  EXPECT_EQ(empty->at(0).dims(), (Dims{0, 3}));
}

}  // namespace
}  // namespace kiln

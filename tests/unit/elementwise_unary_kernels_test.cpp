// Unary elementwise ops, Clip and Cast: shape inference + CPU kernels against float64 / exact references.
// Tolerance for float32 math: |got - ref| <= 4e-6 * |ref| + 2e-6 (a few float32 ulps; kernels compute in float).
#include <cmath>
#include <functional>
#include <limits>

#include "elementwise_test_util.h"

namespace kiln {
namespace {

using ir::OpKind;
using namespace testing_util;

void expectClose(const Tensor& got, const std::vector<double>& ref, const std::string& what, double rtol = 4e-6,
                 double atol = 2e-6) {
  ASSERT_EQ(static_cast<size_t>(got.elementCount()), ref.size()) << what;
  const float* p = got.dataAs<float>();
  int bad = 0;
  for (size_t i = 0; i < ref.size() && bad < 5; ++i) {
    if (std::isnan(ref[i]) && std::isnan(p[i])) continue;
    if (std::isinf(ref[i]) && p[i] == ref[i]) continue;
    if (!(std::fabs(p[i] - ref[i]) <= rtol * std::fabs(ref[i]) + atol)) {
      ADD_FAILURE() << what << " at " << i << ": input-order element got " << p[i] << " expected " << ref[i];
      ++bad;
    }
  }
}

struct UnaryCase {
  OpKind op;
  std::function<double(double)> ref;
  float lo = -3, hi = 3;
  ir::Attributes attrs = {};
  std::string label = "";
};

ir::Attributes floatAttr(const char* name, float v, const char* name2 = nullptr, float v2 = 0) {
  ir::Attributes a;
  a.set(name, v);
  if (name2) a.set(name2, v2);
  return a;
}

double softplus(double x) { return std::log1p(std::exp(x)); }

TEST(ElementwiseUnary, FloatOpsMatchFloat64Reference) {
  ir::Attributes tanhGelu;
  tanhGelu.set("approximate", std::string("tanh"));
  const double pi = 3.14159265358979323846;
  const std::vector<UnaryCase> cases = {
      {OpKind::kRelu, [](double x) { return std::max(x, 0.0); }},
      {OpKind::kSigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -30, 30},
      {OpKind::kTanh, [](double x) { return std::tanh(x); }},
      {OpKind::kErf, [](double x) { return std::erf(x); }},
      {OpKind::kExp, [](double x) { return std::exp(x); }},
      {OpKind::kLog, [](double x) { return std::log(x); }, 0.01f, 50},
      {OpKind::kSqrt, [](double x) { return std::sqrt(x); }, 0.01f, 50},
      {OpKind::kReciprocal, [](double x) { return 1 / x; }},
      {OpKind::kAbs, [](double x) { return std::fabs(x); }},
      {OpKind::kNeg, [](double x) { return -x; }},
      {OpKind::kHardSigmoid, [](double x) { return std::clamp(0.2 * x + 0.5, 0.0, 1.0); }, -4, 4},
      {OpKind::kHardSigmoid, [](double x) { return std::clamp(0.3 * x + 0.4, 0.0, 1.0); }, -4, 4,
       floatAttr("alpha", 0.3f, "beta", 0.4f), "alpha=0.3,beta=0.4"},
      {OpKind::kHardSwish, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, -5, 5},
      {OpKind::kLeakyRelu, [](double x) { return x < 0 ? 0.01 * x : x; }},
      {OpKind::kLeakyRelu, [](double x) { return x < 0 ? 0.2 * x : x; }, -3, 3, floatAttr("alpha", 0.2f), "0.2"},
      {OpKind::kGelu, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {OpKind::kGelu,
       [=](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x))); }, -3, 3,
       tanhGelu, "tanh"},
      {OpKind::kElu, [](double x) { return x < 0 ? std::expm1(x) : x; }},
      {OpKind::kElu, [](double x) { return x < 0 ? 0.7 * std::expm1(x) : x; }, -3, 3, floatAttr("alpha", 0.7f), "0.7"},
      {OpKind::kSelu,
       [](double x) { return 1.0507009873554805 * (x <= 0 ? 1.6732632423543772 * std::expm1(x) : x); }},
      {OpKind::kCelu, [](double x) { return std::max(0.0, x) + std::min(0.0, std::expm1(x)); }},
      {OpKind::kCelu, [](double x) { return std::max(0.0, x) + std::min(0.0, 2.0 * std::expm1(x / 2.0)); }, -3, 3,
       floatAttr("alpha", 2.0f), "2"},
      {OpKind::kSoftplus, softplus, -30, 30},
      {OpKind::kSoftsign, [](double x) { return x / (1 + std::fabs(x)); }},
      {OpKind::kMish, [](double x) { return x * std::tanh(softplus(x)); }, -10, 10},
      {OpKind::kThresholdedRelu, [](double x) { return x > 1 ? x : 0; }},
      {OpKind::kThresholdedRelu, [](double x) { return x > 0.5 ? x : 0; }, -3, 3, floatAttr("alpha", 0.5f), "0.5"},
      {OpKind::kCeil, [](double x) { return std::ceil(x); }},
      {OpKind::kFloor, [](double x) { return std::floor(x); }},
      {OpKind::kSign, [](double x) { return double((x > 0) - (x < 0)); }},
      {OpKind::kSin, [](double x) { return std::sin(x); }},
      {OpKind::kCos, [](double x) { return std::cos(x); }},
      {OpKind::kTan, [](double x) { return std::tan(x); }, -1.2f, 1.2f},
      {OpKind::kAsin, [](double x) { return std::asin(x); }, -0.99f, 0.99f},
      {OpKind::kAcos, [](double x) { return std::acos(x); }, -0.99f, 0.99f},
      {OpKind::kAtan, [](double x) { return std::atan(x); }},
      {OpKind::kSinh, [](double x) { return std::sinh(x); }},
      {OpKind::kCosh, [](double x) { return std::cosh(x); }},
      {OpKind::kAsinh, [](double x) { return std::asinh(x); }},
      {OpKind::kAcosh, [](double x) { return std::acosh(x); }, 1.01f, 5},
      {OpKind::kAtanh, [](double x) { return std::atanh(x); }, -0.95f, 0.95f},
  };
  uint32_t seed = 100;
  for (const auto& c : cases) {
    for (const Dims& d : {Dims{7, 13}, Dims{}, Dims{2, 3, 1, 5}, Dims{70001}}) {
      auto x = randomFloats(elementCount(d), c.lo, c.hi, seed++);
      auto got = runNode(c.op, {makeTensor(DataType::kFloat32, d, x)}, c.attrs);
      ASSERT_TRUE(got.hasValue()) << got.status().toString();
      ASSERT_EQ(got->at(0).dims(), d);
      ASSERT_EQ(got->at(0).dtype(), DataType::kFloat32);
      std::vector<double> ref;
      for (float v : x) ref.push_back(c.ref(v));
      expectClose(got->at(0), ref, std::string(ir::opKindName(c.op)) + " " + c.label + " " + dimsToString(d));
    }
  }
}

TEST(ElementwiseUnary, RoundHalfToEvenAndSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x{0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, 2.6f, -2.6f, 1e9f, inf, -inf, 3.0f};
  auto got = runNode(OpKind::kRound, {makeTensor(DataType::kFloat32, {13}, x)});
  ASSERT_TRUE(got.hasValue());
  expectClose(got->at(0), {0, 2, 2, -0.0, -2, -2, 2, 3, -3, 1e9, inf, -inf, 3}, "Round", 0, 0);
}

TEST(ElementwiseUnary, IsNaNAndIsInfWithDetectFlags) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x{1.0f, inf, -inf, nan, -2.0f};
  auto isnan = runNode(OpKind::kIsNaN, {makeTensor(DataType::kFloat32, {5}, x)});
  ASSERT_TRUE(isnan.hasValue());
  ASSERT_EQ(isnan->at(0).dtype(), DataType::kBool);
  const uint8_t* p = isnan->at(0).dataAs<uint8_t>();
  EXPECT_EQ(std::vector<uint8_t>(p, p + 5), (std::vector<uint8_t>{0, 0, 0, 1, 0}));
  const std::vector<std::pair<std::pair<int64_t, int64_t>, std::vector<uint8_t>>> flags = {
      {{1, 1}, {0, 1, 1, 0, 0}}, {{0, 1}, {0, 1, 0, 0, 0}}, {{1, 0}, {0, 0, 1, 0, 0}}};
  for (const auto& [f, expected] : flags) {
    ir::Attributes a;
    a.set("detect_negative", f.first);
    a.set("detect_positive", f.second);
    auto got = runNode(OpKind::kIsInf, {makeTensor(DataType::kFloat32, {5}, x)}, a);
    ASSERT_TRUE(got.hasValue());
    const uint8_t* q = got->at(0).dataAs<uint8_t>();
    EXPECT_EQ(std::vector<uint8_t>(q, q + 5), expected) << f.first << f.second;
  }
}

TEST(ElementwiseClip, OptionalBoundsFloatAndIntegers) {
  const Dims d{3, 11};
  auto x = randomFloats(33, -3, 3, 200);
  auto scalar = [](float v) { return makeTensor(DataType::kFloat32, {}, std::vector<float>{v}); };
  const std::vector<std::tuple<Tensor, Tensor, double, double>> variants = {
      {scalar(-1), scalar(1.5f), -1, 1.5},
      {scalar(-0.5f), Tensor(), -0.5, INFINITY},
      {Tensor(), scalar(0.25f), -INFINITY, 0.25},
      {Tensor(), Tensor(), -INFINITY, INFINITY}};
  for (const auto& [lo, hi, rlo, rhi] : variants) {
    std::vector<Tensor> inputs{makeTensor(DataType::kFloat32, d, x), lo, hi};
    auto got = runNode(OpKind::kClip, inputs);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    std::vector<double> ref;
    for (float v : x) ref.push_back(std::min(std::max(double(v), rlo), rhi));
    expectClose(got->at(0), ref, "Clip [" + std::to_string(rlo) + ", " + std::to_string(rhi) + "]", 0, 0);
  }
  // Only the data input (opset-13 form with both bounds omitted and not even listed).
  auto bare = runNode(OpKind::kClip, {makeTensor(DataType::kFloat32, d, x)});
  ASSERT_TRUE(bare.hasValue());
  expectClose(bare->at(0), std::vector<double>(x.begin(), x.end()), "Clip without bounds", 0, 0);

  auto xi = randomInts<int64_t>(33, -100, 100, 201);
  auto gi = runNode(OpKind::kClip, {makeTensor(DataType::kInt64, d, xi),
                                    makeTensor(DataType::kInt64, {}, std::vector<int64_t>{-20}),
                                    makeTensor(DataType::kInt64, {}, std::vector<int64_t>{30})});
  ASSERT_TRUE(gi.hasValue()) << gi.status().toString();
  for (int i = 0; i < 33; ++i)
    EXPECT_EQ(gi->at(0).dataAs<int64_t>()[i], std::clamp<int64_t>(xi[i], -20, 30));
  auto xi32 = randomInts<int32_t>(33, -100, 100, 202);
  auto g32 = runNode(OpKind::kClip, {makeTensor(DataType::kInt32, d, xi32), Tensor(),
                                     makeTensor(DataType::kInt32, {1}, std::vector<int32_t>{5})});
  ASSERT_TRUE(g32.hasValue()) << g32.status().toString();
  for (int i = 0; i < 33; ++i) EXPECT_EQ(g32->at(0).dataAs<int32_t>()[i], std::min<int32_t>(xi32[i], 5));
}

// ---- Cast ----

template <typename T>
std::vector<T> readAll(const Tensor& t) {
  return std::vector<T>(t.dataAs<T>(), t.dataAs<T>() + t.elementCount());
}

Expected<Tensor> cast(const Tensor& x, DataType to) {
  ir::Attributes a;
  a.set("to", static_cast<int64_t>(to));
  KILN_ASSIGN_OR_RETURN(auto outs, runNode(OpKind::kCast, {x}, a));
  return outs.at(0);
}

TEST(ElementwiseCast, FloatToIntegersTruncatesTowardZero) {
  std::vector<float> x{-2.7f, -1.5f, -0.4f, 0.0f, 0.6f, 1.5f, 2.9f, 100.2f, -100.7f};
  auto i64 = cast(makeTensor(DataType::kFloat32, {9}, x), DataType::kInt64);
  ASSERT_TRUE(i64.hasValue()) << i64.status().toString();
  EXPECT_EQ(i64->dtype(), DataType::kInt64);
  EXPECT_EQ(readAll<int64_t>(*i64), (std::vector<int64_t>{-2, -1, 0, 0, 0, 1, 2, 100, -100}));
  auto i32 = cast(makeTensor(DataType::kFloat32, {9}, x), DataType::kInt32);
  ASSERT_TRUE(i32.hasValue());
  EXPECT_EQ(readAll<int32_t>(*i32), (std::vector<int32_t>{-2, -1, 0, 0, 0, 1, 2, 100, -100}));
  auto i8 = cast(makeTensor(DataType::kFloat32, {9}, x), DataType::kInt8);
  ASSERT_TRUE(i8.hasValue());
  EXPECT_EQ(readAll<int8_t>(*i8), (std::vector<int8_t>{-2, -1, 0, 0, 0, 1, 2, 100, -100}));
  auto b = cast(makeTensor(DataType::kFloat32, {9}, x), DataType::kBool);
  ASSERT_TRUE(b.hasValue());
  EXPECT_EQ(readAll<uint8_t>(*b), (std::vector<uint8_t>{1, 1, 1, 0, 1, 1, 1, 1, 1}));
  std::vector<float> small{0.0f, 1.9f, 200.5f, 255.0f};
  auto u8 = cast(makeTensor(DataType::kFloat32, {4}, small), DataType::kUInt8);
  ASSERT_TRUE(u8.hasValue());
  EXPECT_EQ(readAll<uint8_t>(*u8), (std::vector<uint8_t>{0, 1, 200, 255}));
}

TEST(ElementwiseCast, RoundTripsAndWidening) {
  auto x = randomFloats(37, -1000, 1000, 300);
  auto f64 = cast(makeTensor(DataType::kFloat32, {37}, x), DataType::kFloat64);
  ASSERT_TRUE(f64.hasValue());
  auto d = readAll<double>(*f64);
  for (int i = 0; i < 37; ++i) EXPECT_EQ(d[i], double(x[i]));
  auto back = cast(*f64, DataType::kFloat32);
  ASSERT_TRUE(back.hasValue());
  EXPECT_EQ(readAll<float>(*back), x);

  // float16: values exactly representable survive; others round to nearest (max rel error 2^-11).
  auto h = cast(makeTensor(DataType::kFloat32, {37}, x), DataType::kFloat16);
  ASSERT_TRUE(h.hasValue());
  auto hf = cast(*h, DataType::kFloat32);
  ASSERT_TRUE(hf.hasValue());
  auto r = readAll<float>(*hf);
  for (int i = 0; i < 37; ++i) EXPECT_LE(std::fabs(r[i] - x[i]), std::fabs(x[i]) * 0.00049) << x[i];
  std::vector<float> exact{0.5f, -2.0f, 1024.0f, 0.099975586f};
  auto he = cast(*cast(makeTensor(DataType::kFloat32, {4}, exact), DataType::kFloat16), DataType::kFloat32);
  ASSERT_TRUE(he.hasValue());
  EXPECT_EQ(readAll<float>(*he), exact);

  std::vector<int64_t> ints{-300, -1, 0, 1, 255, 256, 70000, 3000000000LL};
  auto i32 = cast(makeTensor(DataType::kInt64, {8}, ints), DataType::kInt32);
  ASSERT_TRUE(i32.hasValue());
  EXPECT_EQ(readAll<int32_t>(*i32),
            (std::vector<int32_t>{-300, -1, 0, 1, 255, 256, 70000, static_cast<int32_t>(3000000000LL)}));
  auto u8 = cast(makeTensor(DataType::kInt64, {8}, ints), DataType::kUInt8);
  ASSERT_TRUE(u8.hasValue());
  EXPECT_EQ(readAll<uint8_t>(*u8), (std::vector<uint8_t>{212, 255, 0, 1, 255, 0, 112, 0}));
  auto f = cast(makeTensor(DataType::kInt64, {8}, ints), DataType::kFloat32);
  ASSERT_TRUE(f.hasValue());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(readAll<float>(*f)[i], static_cast<float>(ints[i]));
  std::vector<uint8_t> bools{1, 0, 1};
  auto bi = cast(makeTensor(DataType::kBool, {3}, bools), DataType::kInt64);
  ASSERT_TRUE(bi.hasValue());
  EXPECT_EQ(readAll<int64_t>(*bi), (std::vector<int64_t>{1, 0, 1}));
  auto bf = cast(makeTensor(DataType::kBool, {3}, bools), DataType::kFloat32);
  ASSERT_TRUE(bf.hasValue());
  EXPECT_EQ(readAll<float>(*bf), (std::vector<float>{1, 0, 1}));
  auto same = cast(makeTensor(DataType::kInt64, {8}, ints), DataType::kInt64);
  ASSERT_TRUE(same.hasValue());
  EXPECT_EQ(readAll<int64_t>(*same), ints);
}

TEST(ElementwiseCast, RefusesUnknownOrUnsupportedTypes) {
  ir::Attributes a;
  a.set("to", int64_t(99));
  EXPECT_FALSE(runNode(OpKind::kCast, {makeTensor(DataType::kFloat32, {1}, std::vector<float>{1})}, a).hasValue());
  a.set("to", int64_t(8));  // string
  EXPECT_FALSE(runNode(OpKind::kCast, {makeTensor(DataType::kFloat32, {1}, std::vector<float>{1})}, a).hasValue());
}

TEST(ElementwiseIdentity, CopiesAnyDtype) {
  std::vector<int64_t> v{1, -2, 3, 4, 5, 6};
  auto got = runNode(OpKind::kIdentity, {makeTensor(DataType::kInt64, {2, 3}, v)});
  ASSERT_TRUE(got.hasValue());
  EXPECT_EQ(got->at(0).dims(), (Dims{2, 3}));
  EXPECT_EQ(readAll<int64_t>(got->at(0)), v);
}

}  // namespace
}  // namespace kiln

// QuantizeLinear / DequantizeLinear: shape inference and the CPU reference against an independent float64
// implementation (round half to even written out by hand, saturation), per tensor, per axis and blocked, at odd
// shapes; plus the exact ties and bounds the ONNX spec names, and the errors for malformed nodes.
#include <cmath>

#include "core/half.h"
#include "elementwise_test_util.h"

namespace kiln {
namespace {

using ir::OpKind;
using namespace testing_util;

/// Round half to even without rint: floor, then the tie goes to the even neighbour.
double roundHalfEvenByHand(double v) {
  const double f = std::floor(v), frac = v - f;
  if (frac > 0.5) return f + 1;
  if (frac < 0.5) return f;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

struct Range {
  double lo, hi;
};
Range rangeOf(DataType t) {
  switch (t) {
    case DataType::kInt8: return {-128, 127};
    case DataType::kUInt8: return {0, 255};
    case DataType::kInt16: return {-32768, 32767};
    default: return {0, 65535};
  }
}

template <typename Q>
std::vector<Q> readAs(const Tensor& t) {
  return std::vector<Q>(t.dataAs<Q>(), t.dataAs<Q>() + t.elementCount());
}

/// The scale index of element `flat` of x (dims) for a scale of `scaleDims` along `axis` (block 0 = per axis),
/// computed from coordinates (not from the kernels' outer/inner strides).
int64_t scaleIndexByCoordinates(const Dims& dims, const Dims& scaleDims, int64_t axis, int64_t block, int64_t flat) {
  if (elementCount(scaleDims) == 1) return 0;
  Dims coord(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    coord[d] = flat % dims[d];
    flat /= dims[d];
  }
  if (block == 0) return coord[static_cast<size_t>(axis)];
  int64_t index = 0;
  for (size_t d = 0; d < dims.size(); ++d)
    index = index * scaleDims[d] + (static_cast<int64_t>(d) == axis ? coord[d] / block : coord[d]);
  return index;
}

struct Layout {
  Dims x, scale;
  int64_t axis, block;
};

ir::Attributes attrsOf(const Layout& l) {
  ir::Attributes a;
  a.set("axis", l.axis);
  if (l.block) a.set("block_size", l.block);
  return a;
}

const std::vector<Layout>& layouts() {
  static const std::vector<Layout> all = {
      {{3, 5, 7}, {}, 1, 0},            // per tensor, scalar scale
      {{2, 3, 5, 7}, {1}, 1, 0},        // per tensor, 1-element scale
      {{2, 3, 5, 7}, {3}, 1, 0},        // per channel
      {{5, 9}, {9}, -1, 0},             // per column, negative axis
      {{4, 3, 3, 3}, {4}, 0, 0},        // per output channel of a conv weight
      {{3, 10, 2}, {3, 4, 2}, 1, 3},    // blocked, last block shorter (10 = 3 + 3 + 3 + 1)
      {{6, 4}, {2, 4}, 0, 3},           // blocked along axis 0
  };
  return all;
}

std::vector<float> positiveScales(int64_t n, uint32_t seed) {
  std::vector<float> s = randomFloats(n, 0.01f, 0.2f, seed);
  for (float& v : s) v = std::fabs(v);
  return s;
}

template <typename Q>
void checkQuantize(DataType qType, int zeroLo, int zeroHi) {
  uint32_t seed = 7;
  for (const Layout& l : layouts()) {
    const int64_t n = elementCount(l.x), ns = std::max<int64_t>(elementCount(l.scale), 1);
    // Values well past the saturation bounds too: scale <= 0.2 times range [-40, 40] reaches +-4000.
    const std::vector<float> x = randomFloats(n, -40.f, 40.f, seed++);
    const std::vector<float> scale = positiveScales(ns, seed++);
    const std::vector<Q> zero = randomInts<Q>(ns, zeroLo, zeroHi, seed++);
    auto got = runNode(OpKind::kQuantizeLinear,
                       {makeTensor(DataType::kFloat32, l.x, x), makeTensor(DataType::kFloat32, l.scale, scale),
                        makeTensor(qType, l.scale, zero)},
                       attrsOf(l));
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    ASSERT_EQ(got->at(0).dtype(), qType);
    ASSERT_EQ(got->at(0).dims(), l.x);
    const std::vector<Q> y = readAs<Q>(got->at(0));
    const Range r = rangeOf(qType);
    int saturated = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = scaleIndexByCoordinates(l.x, l.scale, l.axis < 0 ? l.axis + int64_t(l.x.size()) : l.axis,
                                                l.block, i);
      // float32 division, as ONNX's reference does it (x / y_scale in float32), then rounding by hand in float64.
      const double q = roundHalfEvenByHand(static_cast<float>(x[i] / scale[s])) + zero[s];
      const double expected = std::clamp(q, r.lo, r.hi);
      saturated += expected != q;
      ASSERT_EQ(static_cast<double>(y[i]), expected) << "element " << i << " of x " << dimsToString(l.x)
                                                      << " scale " << dimsToString(l.scale) << ": x " << x[i];
    }
    if (qType == DataType::kInt8 || qType == DataType::kUInt8) EXPECT_GT(saturated, 0) << "test should saturate";
  }
}

TEST(QuantizeLinear, Int8MatchesFloat64Reference) { checkQuantize<int8_t>(DataType::kInt8, -20, 20); }
TEST(QuantizeLinear, UInt8MatchesFloat64Reference) { checkQuantize<uint8_t>(DataType::kUInt8, 100, 150); }
TEST(QuantizeLinear, Int16MatchesFloat64Reference) { checkQuantize<int16_t>(DataType::kInt16, -300, 300); }

TEST(QuantizeLinear, TiesRoundToEvenAndBoundsSaturate) {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.49f, 300.f, -300.f, 127.5f, -128.5f, 0.f};
  const std::vector<int8_t> expected = {0, 2, 2, 0, -2, -2, 3, 127, -128, 127, -128, 0};
  auto got = runNode(OpKind::kQuantizeLinear,
                     {makeTensor(DataType::kFloat32, {12}, x), makeTensor(DataType::kFloat32, {}, std::vector<float>{1.f}),
                      makeTensor(DataType::kInt8, {}, std::vector<int8_t>{0})});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  EXPECT_EQ(readAs<int8_t>(got->at(0)), expected);
  // No zero point: uint8 with zero point 0, so negatives saturate to 0; 2 * 0.5 ties at 0.5 / 0.5 = 1.
  auto u = runNode(OpKind::kQuantizeLinear,
                   {makeTensor(DataType::kFloat32, {4}, std::vector<float>{-3.f, 0.25f, 0.75f, 1000.f}),
                    makeTensor(DataType::kFloat32, {}, std::vector<float>{0.5f}), Tensor()});
  ASSERT_TRUE(u.hasValue()) << u.status().toString();
  EXPECT_EQ(u->at(0).dtype(), DataType::kUInt8);
  EXPECT_EQ(readAs<uint8_t>(u->at(0)), (std::vector<uint8_t>{0, 0, 2, 255}));
}

TEST(QuantizeLinear, OutputDtypeAttributeWithoutZeroPoint) {
  ir::Attributes a;
  a.set("output_dtype", static_cast<int64_t>(DataType::kInt8));
  auto got = runNode(OpKind::kQuantizeLinear,
                     {makeTensor(DataType::kFloat32, {3}, std::vector<float>{-1.f, 2.6f, -400.f}),
                      makeTensor(DataType::kFloat32, {}, std::vector<float>{1.f})},
                     a);
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  EXPECT_EQ(got->at(0).dtype(), DataType::kInt8);
  EXPECT_EQ(readAs<int8_t>(got->at(0)), (std::vector<int8_t>{-1, 3, -128}));
}

TEST(QuantizeLinear, Float16InputDividesInFloat16) {
  // x and scale both float16: ONNX divides in float16. 1/3 in float16 = 0.33325195; x = 0.5 * 3 -> ...
  std::vector<uint16_t> x, s;
  const std::vector<float> xs = {1.f, 2.5f, -7.25f, 100.f}, ss = {0.3333f};
  for (float v : xs) x.push_back(floatToHalfBits(v));
  for (float v : ss) s.push_back(floatToHalfBits(v));
  auto got = runNode(OpKind::kQuantizeLinear, {makeTensor(DataType::kFloat16, {4}, x), makeTensor(DataType::kFloat16, {}, s),
                                               makeTensor(DataType::kInt8, {}, std::vector<int8_t>{0})});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  const float scale16 = halfBitsToFloat(s[0]);
  std::vector<int8_t> expected;
  for (uint16_t v : x) {
    const float quotient16 = halfBitsToFloat(floatToHalfBits(halfBitsToFloat(v) / scale16));
    expected.push_back(static_cast<int8_t>(std::clamp(roundHalfEvenByHand(quotient16), -128.0, 127.0)));
  }
  EXPECT_EQ(readAs<int8_t>(got->at(0)), expected);
}

template <typename Q>
void checkDequantize(DataType qType, int lo, int hi, DataType scaleType) {
  uint32_t seed = 99;
  for (const Layout& l : layouts()) {
    const int64_t n = elementCount(l.x), ns = std::max<int64_t>(elementCount(l.scale), 1);
    const std::vector<Q> x = randomInts<Q>(n, lo, hi, seed++);
    const std::vector<Q> zero = randomInts<Q>(ns, lo, hi, seed++);
    const std::vector<float> scale = positiveScales(ns, seed++);
    Tensor scaleTensor = makeTensor(DataType::kFloat32, l.scale, scale);
    std::vector<double> scaleUsed(scale.begin(), scale.end());
    if (scaleType == DataType::kFloat16) {
      std::vector<uint16_t> bits;
      for (size_t k = 0; k < scale.size(); ++k) {
        bits.push_back(floatToHalfBits(scale[k]));
        scaleUsed[k] = halfBitsToFloat(bits.back());
      }
      scaleTensor = makeTensor(DataType::kFloat16, l.scale, bits);
    }
    auto got = runNode(OpKind::kDequantizeLinear, {makeTensor(qType, l.x, x), scaleTensor, makeTensor(qType, l.scale, zero)},
                       attrsOf(l));
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    ASSERT_EQ(got->at(0).dtype(), scaleType);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = scaleIndexByCoordinates(l.x, l.scale, l.axis < 0 ? l.axis + int64_t(l.x.size()) : l.axis,
                                                l.block, i);
      const double expected = (static_cast<double>(x[i]) - zero[s]) * scaleUsed[s];
      const Tensor& out = got->at(0);
      const double value = scaleType == DataType::kFloat16 ? halfBitsToFloat(out.dataAs<uint16_t>()[i])
                                                           : out.dataAs<float>()[i];
      // One rounding of a float32 product (2^-24) or of the float16 result (2^-11).
      const double tolerance = std::fabs(expected) * (scaleType == DataType::kFloat16 ? 0x1p-11 * 1.001 : 0x1p-24);
      ASSERT_LE(std::fabs(value - expected), tolerance) << "element " << i << " of " << dimsToString(l.x);
    }
  }
}

TEST(DequantizeLinear, Int8MatchesFloat64Reference) { checkDequantize<int8_t>(DataType::kInt8, -128, 127, DataType::kFloat32); }
TEST(DequantizeLinear, UInt8MatchesFloat64Reference) { checkDequantize<uint8_t>(DataType::kUInt8, 0, 255, DataType::kFloat32); }
TEST(DequantizeLinear, UInt16WithFloat16Scale) {
  checkDequantize<uint16_t>(DataType::kUInt16, 0, 65535, DataType::kFloat16);
}

TEST(QuantizeDequantize, RoundTripErrorIsAtMostHalfAStep) {
  const Dims d{4, 3, 5, 5};
  const std::vector<float> x = randomFloats(elementCount(d), -2.f, 2.f, 5);
  const std::vector<float> scale = {2.f / 127, 1.f / 127, 4.f / 127, 2.5f / 127};
  ir::Attributes a;
  a.set("axis", int64_t(0));
  auto q = runNode(OpKind::kQuantizeLinear, {makeTensor(DataType::kFloat32, d, x), makeTensor(DataType::kFloat32, {4}, scale),
                                             makeTensor(DataType::kInt8, {4}, std::vector<int8_t>{0, 0, 0, 0})}, a);
  ASSERT_TRUE(q.hasValue()) << q.status().toString();
  auto dq = runNode(OpKind::kDequantizeLinear, {q->at(0), makeTensor(DataType::kFloat32, {4}, scale), Tensor()}, a);
  ASSERT_TRUE(dq.hasValue()) << dq.status().toString();
  int clipped = 0;
  for (int64_t i = 0; i < elementCount(d); ++i) {
    const float s = scale[static_cast<size_t>(i / 75)];
    const float back = dq->at(0).dataAs<float>()[i];
    if (x[i] > 127.5f * s || x[i] < -128.5f * s) {  // channel 1 (step 1/127) saturates at 127 and -128 steps
      ++clipped;
      EXPECT_FLOAT_EQ(back, x[i] > 0 ? 127 * s : -128 * s);
      continue;
    }
    EXPECT_LE(std::fabs(back - x[i]), 0.5f * s * (1 + 1e-5f)) << "element " << i;
  }
  EXPECT_GT(clipped, 0);
}

TEST(QuantizationErrors, NameTheNodeAndWhatWasExpected) {
  const Tensor x = makeTensor(DataType::kFloat32, {2, 3}, std::vector<float>(6, 1.f));
  auto badScale = runNode(OpKind::kQuantizeLinear, {x, makeTensor(DataType::kFloat32, {2}, std::vector<float>{1, 1})});
  ASSERT_FALSE(badScale.hasValue());
  EXPECT_NE(badScale.status().message().find("per-axis quantization along axis 1 expects [3]"), std::string::npos)
      << badScale.status().message();
  EXPECT_NE(badScale.status().message().find("node 'n'"), std::string::npos) << badScale.status().message();

  ir::Attributes a;
  a.set("output_dtype", static_cast<int64_t>(DataType::kUInt8));
  auto mismatch = runNode(OpKind::kQuantizeLinear, {x, makeTensor(DataType::kFloat32, {}, std::vector<float>{1}),
                                                    makeTensor(DataType::kInt8, {}, std::vector<int8_t>{0})}, a);
  ASSERT_FALSE(mismatch.hasValue());
  EXPECT_NE(mismatch.status().message().find("output_dtype"), std::string::npos);

  auto floatIn = runNode(OpKind::kDequantizeLinear, {x, makeTensor(DataType::kFloat32, {}, std::vector<float>{1})});
  ASSERT_FALSE(floatIn.hasValue());
  EXPECT_EQ(floatIn.status().code(), StatusCode::kUnsupported);

  ir::Attributes blocked;
  blocked.set("axis", int64_t(1));
  blocked.set("block_size", int64_t(2));
  auto badBlocks = runNode(OpKind::kQuantizeLinear, {x, makeTensor(DataType::kFloat32, {2, 1}, std::vector<float>{1, 1})},
                           blocked);
  ASSERT_FALSE(badBlocks.hasValue());
  EXPECT_NE(badBlocks.status().message().find("expects 2x2"), std::string::npos) << badBlocks.status().message();
}

}  // namespace
}  // namespace kiln

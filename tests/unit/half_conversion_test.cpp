// Host float16/bfloat16 conversions (core/half.h) against the compiler's own _Float16 and against bfloat16's
// definition (the top half of a float32, rounded to nearest even). Weights, host casts and the CPU's narrow staging
// all go through these.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/half.h"
#include "core/tensor_values.h"

namespace kiln {
namespace {

uint16_t compilerHalf(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

float fromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

TEST(HalfConversion, MatchesTheCompilerOnRandomFloats) {
  std::mt19937 rng(7);
  int mismatches = 0;
  for (int k = 0; k < 2000000; ++k) {
    const float f = fromBits(rng());
    if (std::isnan(f)) continue;
    if (floatToHalfBits(f) != compilerHalf(f) && ++mismatches <= 5)
      ADD_FAILURE() << f << ": got " << floatToHalfBits(f) << ", want " << compilerHalf(f);
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(HalfConversion, TinyValuesRoundToZeroOrTheSmallestSubnormal) {
  // 3.9e-12 once came out as 3.43: the subnormal path shifted by 32 bits or more.
  for (float f : {3.87554e-12f, -2.13318e-10f, 1e-30f, 2.9e-8f, -2.9e-8f})
    EXPECT_EQ(halfBitsToFloat(floatToHalfBits(f)), 0.0f) << f;
  EXPECT_EQ(halfBitsToFloat(floatToHalfBits(6.0e-8f)), std::ldexp(1.0f, -24));  // nearest to 2^-24
  for (int e = -40; e <= -14; ++e) {  // every binade through the subnormals agrees with the compiler
    const float f = std::ldexp(1.37f, e);
    EXPECT_EQ(floatToHalfBits(f), compilerHalf(f)) << "2^" << e;
  }
}

TEST(HalfConversion, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = halfBitsToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(floatToHalfBits(f), h) << std::hex << h;
    EXPECT_EQ(f, static_cast<float>(static_cast<_Float16>(f)));
  }
}

TEST(BFloat16Conversion, RoundsToNearestEvenAndKeepsNaN) {
  std::mt19937 rng(11);
  for (int k = 0; k < 1000000; ++k) {
    const uint32_t bits = rng();
    const float f = fromBits(bits);
    const uint16_t got = floatToBfloat16Bits(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bfloat16BitsToFloat(got)));
      continue;
    }
    if (std::isinf(bfloat16BitsToFloat(static_cast<uint16_t>((bits >> 16) + 1)))) continue;  // rounding to Inf: IEEE
    // The nearest of the two bfloat16 neighbours, ties to the even one, by float64 distances.
    const uint16_t low = static_cast<uint16_t>(bits >> 16), high = static_cast<uint16_t>(low + 1);
    const double dl = std::fabs(double(f) - bfloat16BitsToFloat(low));
    const double dh = std::fabs(double(f) - bfloat16BitsToFloat(high));
    const uint16_t want = dl < dh ? low : dh < dl ? high : (low % 2 == 0 ? low : high);
    if ((bits & 0xffffu) == 0) {
      EXPECT_EQ(got, low);
      continue;
    }
    ASSERT_EQ(got, want) << f;
  }
}

TEST(TensorValues, EveryFloatTypeReadsAsItsValueAndOtherTypesAsNaN) {
  const float values[3] = {-1.5f, 0.333333f, 65504.f};
  for (DataType type : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
    Tensor t = Tensor::allocate(type, {3}).value();
    ASSERT_TRUE(isFloatType(type));
    for (int i = 0; i < 3; ++i) {
      if (type == DataType::kFloat32) t.dataAs<float>()[i] = values[i];
      if (type == DataType::kFloat64) t.dataAs<double>()[i] = values[i];
      if (type == DataType::kFloat16) t.dataAs<uint16_t>()[i] = floatToHalfBits(values[i]);
      if (type == DataType::kBFloat16) t.dataAs<uint16_t>()[i] = floatToBfloat16Bits(values[i]);
    }
    // What each type can hold of the value: float16 and bfloat16 round it, float32 and float64 keep it.
    for (int i = 0; i < 3; ++i) {
      const double want = type == DataType::kFloat16    ? halfBitsToFloat(floatToHalfBits(values[i]))
                          : type == DataType::kBFloat16 ? bfloat16BitsToFloat(floatToBfloat16Bits(values[i]))
                                                        : double(values[i]);
      EXPECT_EQ(floatElementAsDouble(t, i), want) << dataTypeName(type) << " element " << i;
    }
  }
  Tensor ints = Tensor::allocate(DataType::kInt32, {1}).value();
  ints.dataAs<int32_t>()[0] = 7;
  EXPECT_FALSE(isFloatType(DataType::kInt32));
  EXPECT_TRUE(std::isnan(floatElementAsDouble(ints, 0)));
}

}  // namespace
}  // namespace kiln

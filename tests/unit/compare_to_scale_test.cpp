// test_util/compare.h's whole-model judgement: error relative to the reference's scale plus cosine, with degenerate
// references refused. Other tests rely on it to fail when kiln is wrong, so it is checked here against cases whose
// answer is known by construction.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "test_util/compare.h"

namespace kiln::test {
namespace {

Tensor floats(const Dims& dims, float (*value)(int64_t, std::mt19937&)) {
  auto t = Tensor::allocate(DataType::kFloat32, dims);
  EXPECT_TRUE(t.hasValue());
  std::mt19937 rng(7);
  for (int64_t i = 0; i < t->elementCount(); ++i) t->dataAs<float>()[i] = value(i, rng);
  return *t;
}

float gaussian(int64_t, std::mt19937& rng) { return std::normal_distribution<float>(0.f, 1.f)(rng); }

Tensor scaled(const Tensor& t, double factor, double offsetOfScale = 0) {
  Tensor out = *t.clone();
  double scale = 0;
  for (int64_t i = 0; i < t.elementCount(); ++i) scale = std::max(scale, std::fabs(double(t.dataAs<float>()[i])));
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    const float v = t.dataAs<float>()[i];
    out.dataAs<float>()[i] = static_cast<float>(v * factor + (v >= 0 ? 1 : -1) * offsetOfScale * scale);
  }
  return out;
}

TEST(CompareToScale, BoundIsRelativeToTheReferenceScale) {
  const Tensor ref = floats({7, 300}, gaussian);
  EXPECT_TRUE(compareToScale(ref, ref, kStrictFp32).ok);
  // 5e-5 of the scale passes the strict bound (1e-4); 2e-4 fails it, though the cosine stays above 0.9999.
  EXPECT_TRUE(compareToScale(scaled(ref, 1, 5e-5), ref, kStrictFp32).ok);
  const CompareResult off = compareToScale(scaled(ref, 1, 2e-4), ref, kStrictFp32);
  EXPECT_FALSE(off.ok);
  EXPECT_GT(off.stats.cosine, 0.9999);
  EXPECT_NE(off.message.find("x max|ref|"), std::string::npos) << off.message;
  // The same relative error at a scale of 1e-9: no absolute floor lets it through, and agreement still passes.
  EXPECT_FALSE(compareToScale(scaled(ref, 1e-9, 2e-4 * 1e-9), scaled(ref, 1e-9), kStrictFp32).ok);
  EXPECT_TRUE(compareToScale(scaled(ref, 1e-9), scaled(ref, 1e-9), kStrictFp32).ok);
  // Zeros against a tiny reference: cosine 0, error 1 x scale.
  const CompareResult zeros = compareToScale(scaled(ref, 0), scaled(ref, 1e-9), kReducedPrecision);
  EXPECT_FALSE(zeros.ok);
  EXPECT_EQ(zeros.stats.cosine, 0.0);
}

TEST(CompareToScale, ReducedPrecisionNeedsBothCosineAndError) {
  const Tensor ref = floats({5, 400}, gaussian);
  EXPECT_TRUE(compareToScale(scaled(ref, 1.01), ref, kReducedPrecision).ok);  // 1% of scale, cosine 1
  const CompareResult big = compareToScale(scaled(ref, 1.04), ref, kReducedPrecision);  // cosine 1, 4% off
  EXPECT_FALSE(big.ok);
  EXPECT_GT(big.stats.cosine, 0.99999);
  EXPECT_FALSE(compareToScale(scaled(ref, -1), ref, kReducedPrecision).ok);  // error 2 x scale, cosine -1
}

TEST(CompareToScale, NonFiniteOutputFails) {
  const Tensor ref = floats({3, 50}, gaussian);
  Tensor got = *ref.clone();
  got.dataAs<float>()[17] = NAN;
  const CompareResult r = compareToScale(got, ref, kReducedPrecision);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("1 NaN/Inf"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("[0, 17]"), std::string::npos) << r.message;
}

TEST(CompareToScale, DegenerateReferencesNeverPass) {
  const Tensor zero = floats({4, 8}, [](int64_t, std::mt19937&) { return 0.f; });
  const Tensor constant = floats({4, 8}, [](int64_t, std::mt19937&) { return 0.75f; });
  const Tensor withNan = floats({4, 8}, [](int64_t i, std::mt19937&) { return i == 5 ? NAN : float(i); });
  for (const auto& [ref, reason] : {std::pair{zero, "all zero"}, {constant, "constant"}, {withNan, "NaN/Inf"}}) {
    const CompareResult r = compareToScale(ref, ref, kReducedPrecision);  // the output equals the reference
    EXPECT_FALSE(r.ok) << reason;
    EXPECT_NE(r.message.find("DEGENERATE"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(reason), std::string::npos) << r.message;
    EXPECT_FALSE(degenerateReason(ref).empty());
  }
  // One element is not "constant", and a scalar of any non-zero value can judge.
  EXPECT_EQ(degenerateReason(floats({1}, [](int64_t, std::mt19937&) { return 3.f; })), "");
  // Two zero tensors show no agreement: errorStats gives cosine 0, not 1.
  EXPECT_EQ(errorStats(zero, zero).cosine, 0.0);
}

}  // namespace
}  // namespace kiln::test

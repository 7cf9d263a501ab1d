// Generators: Shape, Size, ConstantOfShape, Range — shape inference + CPU kernels against exact references.
#include <cmath>

#include "elementwise_test_util.h"

namespace kiln {
namespace {

using ir::OpKind;
using namespace testing_util;

template <typename T>
std::vector<T> readAll(const Tensor& t) {
  return std::vector<T>(t.dataAs<T>(), t.dataAs<T>() + t.elementCount());
}

Tensor zeros(Dims d) { return Tensor::allocate(DataType::kFloat32, std::move(d)).value(); }

TEST(GeneratorShape, StartEndClampAndNegative) {
  const Dims d{2, 3, 5, 7};
  struct Case {
    std::optional<int64_t> start, end;
    std::vector<int64_t> expected;
  };
  const std::vector<Case> cases = {
      {{}, {}, {2, 3, 5, 7}}, {1, {}, {3, 5, 7}},  {{}, -1, {2, 3, 5}}, {-3, -1, {3, 5}},
      {-10, 2, {2, 3}},       {1, 100, {3, 5, 7}}, {3, 1, {}},          {4, {}, {}}};
  for (const auto& c : cases) {
    ir::Attributes a;
    if (c.start) a.set("start", *c.start);
    if (c.end) a.set("end", *c.end);
    auto got = runNode(OpKind::kShape, {zeros(d)}, a);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    EXPECT_EQ(got->at(0).dtype(), DataType::kInt64);
    EXPECT_EQ(got->at(0).dims(), (Dims{static_cast<int64_t>(c.expected.size())}));
    EXPECT_EQ(readAll<int64_t>(got->at(0)), c.expected);
  }
  auto scalar = runNode(OpKind::kShape, {zeros({})});
  ASSERT_TRUE(scalar.hasValue());
  EXPECT_EQ(scalar->at(0).dims(), (Dims{0}));
}

TEST(GeneratorSize, CountsElements) {
  for (const Dims& d : {Dims{2, 3, 5, 7}, Dims{}, Dims{4, 0}, Dims{13}}) {
    auto got = runNode(OpKind::kSize, {zeros(d)});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    EXPECT_EQ(got->at(0).dtype(), DataType::kInt64);
    EXPECT_EQ(got->at(0).dims(), Dims{});
    EXPECT_EQ(got->at(0).dataAs<int64_t>()[0], elementCount(d));
  }
}

TEST(GeneratorConstantOfShape, FillsWithValueOrFloatZero) {
  auto shape = makeTensor(DataType::kInt64, {3}, std::vector<int64_t>{2, 7, 3});
  auto plain = runNode(OpKind::kConstantOfShape, {shape});
  ASSERT_TRUE(plain.hasValue()) << plain.status().toString();
  EXPECT_EQ(plain->at(0).dtype(), DataType::kFloat32);
  EXPECT_EQ(plain->at(0).dims(), (Dims{2, 7, 3}));
  EXPECT_EQ(readAll<float>(plain->at(0)), std::vector<float>(42, 0.0f));

  ir::Attributes a;
  a.set("value", makeTensor(DataType::kInt64, {1}, std::vector<int64_t>{-9}));
  auto ints = runNode(OpKind::kConstantOfShape, {shape}, a);
  ASSERT_TRUE(ints.hasValue()) << ints.status().toString();
  EXPECT_EQ(ints->at(0).dtype(), DataType::kInt64);
  EXPECT_EQ(readAll<int64_t>(ints->at(0)), std::vector<int64_t>(42, -9));

  ir::Attributes f;
  f.set("value", makeTensor(DataType::kFloat32, {}, std::vector<float>{1.25f}));
  auto big = runNode(OpKind::kConstantOfShape, {makeTensor(DataType::kInt64, {2}, std::vector<int64_t>{301, 77})}, f);
  ASSERT_TRUE(big.hasValue());
  EXPECT_EQ(readAll<float>(big->at(0)), std::vector<float>(301 * 77, 1.25f));

  auto scalar = runNode(OpKind::kConstantOfShape, {makeTensor(DataType::kInt64, {0}, std::vector<int64_t>{})}, f);
  ASSERT_TRUE(scalar.hasValue()) << scalar.status().toString();
  EXPECT_EQ(scalar->at(0).dims(), Dims{});
  EXPECT_EQ(readAll<float>(scalar->at(0)), std::vector<float>{1.25f});
}

TEST(GeneratorConstantOfShape, RefusesBadInputs) {
  auto negative = runNode(OpKind::kConstantOfShape, {makeTensor(DataType::kInt64, {2}, std::vector<int64_t>{3, -1})});
  ASSERT_FALSE(negative.hasValue());
  EXPECT_NE(negative.status().message().find("negative"), std::string::npos);
  auto unknown = runNode(OpKind::kConstantOfShape, {makeTensor(DataType::kInt64, {1}, std::vector<int64_t>{3})}, {},
                         /*withValues=*/false);
  ASSERT_FALSE(unknown.hasValue());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
  ir::Attributes two;
  two.set("value", makeTensor(DataType::kFloat32, {2}, std::vector<float>{1, 2}));
  EXPECT_FALSE(
      runNode(OpKind::kConstantOfShape, {makeTensor(DataType::kInt64, {1}, std::vector<int64_t>{3})}, two).hasValue());
  auto huge = runNode(OpKind::kConstantOfShape,
                      {makeTensor(DataType::kInt64, {2}, std::vector<int64_t>{int64_t(1) << 40, int64_t(1) << 40})});
  EXPECT_FALSE(huge.hasValue());
}

template <typename T>
Expected<Tensor> range(DataType t, T start, T limit, T delta) {
  KILN_ASSIGN_OR_RETURN(auto outs, runNode(OpKind::kRange, {makeTensor(t, {}, std::vector<T>{start}),
                                                            makeTensor(t, {}, std::vector<T>{limit}),
                                                            makeTensor(t, {}, std::vector<T>{delta})}));
  return outs.at(0);
}

TEST(GeneratorRange, FloatAndIntegerCounts) {
  auto f = range<float>(DataType::kFloat32, 1.0f, 3.2f, 0.3f);
  ASSERT_TRUE(f.hasValue()) << f.status().toString();
  ASSERT_EQ(f->dims(), (Dims{8}));  // ceil(2.2 / 0.3) = 8
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(f->dataAs<float>()[i], 1.0 + i * 0.3, 1e-6);
  auto down = range<float>(DataType::kFloat32, 5.0f, -2.0f, -1.5f);
  ASSERT_TRUE(down.hasValue());
  EXPECT_EQ(readAll<float>(*down), (std::vector<float>{5.0f, 3.5f, 2.0f, 0.5f, -1.0f}));

  auto i64 = range<int64_t>(DataType::kInt64, -3, 10, 4);
  ASSERT_TRUE(i64.hasValue());
  EXPECT_EQ(readAll<int64_t>(*i64), (std::vector<int64_t>{-3, 1, 5, 9}));
  auto i32 = range<int32_t>(DataType::kInt32, 10, 0, -3);
  ASSERT_TRUE(i32.hasValue());
  EXPECT_EQ(readAll<int32_t>(*i32), (std::vector<int32_t>{10, 7, 4, 1}));
  auto exact = range<int64_t>(DataType::kInt64, 0, 12, 4);
  ASSERT_TRUE(exact.hasValue());
  EXPECT_EQ(readAll<int64_t>(*exact), (std::vector<int64_t>{0, 4, 8}));
  auto empty = range<int64_t>(DataType::kInt64, 5, 1, 2);
  ASSERT_TRUE(empty.hasValue());
  EXPECT_EQ(empty->dims(), (Dims{0}));
}

TEST(GeneratorRange, RefusesZeroDeltaAndUnknownInputs) {
  auto zero = range<int64_t>(DataType::kInt64, 0, 5, 0);
  ASSERT_FALSE(zero.hasValue());
  EXPECT_NE(zero.status().message().find("delta"), std::string::npos);
  EXPECT_FALSE(range<float>(DataType::kFloat32, 0, 5, 0).hasValue());
  EXPECT_FALSE(range<float>(DataType::kFloat32, 0, INFINITY, 1).hasValue());
  EXPECT_FALSE(range<int64_t>(DataType::kInt64, 0, int64_t(1) << 62, 1).hasValue()) << "absurd size refused";
  auto unknown = runNode(OpKind::kRange, {makeTensor(DataType::kInt64, {}, std::vector<int64_t>{0}),
                                          makeTensor(DataType::kInt64, {}, std::vector<int64_t>{4}),
                                          makeTensor(DataType::kInt64, {}, std::vector<int64_t>{1})},
                         {}, /*withValues=*/false);
  ASSERT_FALSE(unknown.hasValue());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
  auto mixed = runNode(OpKind::kRange, {makeTensor(DataType::kInt64, {}, std::vector<int64_t>{0}),
                                        makeTensor(DataType::kInt32, {}, std::vector<int32_t>{4}),
                                        makeTensor(DataType::kInt64, {}, std::vector<int64_t>{1})});
  EXPECT_FALSE(mixed.hasValue());
}

}  // namespace
}  // namespace kiln

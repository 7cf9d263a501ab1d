// Data-dependent output sizes on the CPU backend (DESIGN.md rule 4): the OutputAllocator contract, the shapes a
// context reports before and after a run, layers after NonZero that wait for its count, TopK with a run-time K,
// Compress with a computed condition, Unique, NonMaxSuppression. References are plain C++ loops written here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "unit/data_dependent_graphs.h"

namespace kiln {
namespace {

using test::buildFor;

/// Host memory (the CPU engine's "device"), counting what it is asked for.
class CountingAllocator final : public OutputAllocator {
 public:
  ~CountingAllocator() override { std::free(memory_); }
  void* reallocateOutput(const std::string& name, void* current, uint64_t size, uint64_t alignment) override {
    EXPECT_EQ(current, memory_) << name << ": currentMemory is what the allocator returned last";
    EXPECT_GT(size, bytes_) << name << ": asked although the last memory was big enough";
    ++requests;
    std::free(memory_);
    memory_ = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
    bytes_ = size;
    return memory_;
  }
  void notifyShape(const std::string& name, const Dims& dims) override {
    (void)name;
    shape = dims;
    ++notifications;
  }
  template <typename T> const T* data() const { return static_cast<const T*>(memory_); }
  int requests = 0, notifications = 0;
  Dims shape;

 private:
  void* memory_ = nullptr;
  uint64_t bytes_ = 0;
};

TEST(OutputAllocator, NonZeroThenGatherRangeManyRunsAskOnlyWhenGrowing) {
  auto engine = buildFor(test::nonZeroGatherGraph(64), DeviceKind::kCpu, {{"x", {1}, {40}, {64}}});
  ASSERT_TRUE(engine) << engine.status().toString();
  auto ctx = (*engine)->createContext();
  ASSERT_TRUE(ctx) << ctx.status().toString();
  CountingAllocator idxAlloc, rampAlloc;
  ASSERT_TRUE((*ctx)->setOutputAllocator("idx", &idxAlloc).isOk());
  ASSERT_TRUE((*ctx)->setOutputAllocator("ramp", &rampAlloc).isOk());
  std::mt19937 rng(15);
  uint64_t largestIdx = 0;
  int expectedRequests = 0;
  for (int run = 0; run < 300; ++run) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 64);
    Tensor x = test::sparseVector(n, std::uniform_real_distribution<double>(0.0, 1.0)(rng), rng);
    ASSERT_TRUE((*ctx)->setInputShape("x", {n}).isOk());
    auto pending = (*ctx)->tensorShape("idx");
    ASSERT_TRUE(pending);
    if (run == 0) {
      EXPECT_EQ(*pending, (Dims{1, kDynamicDim})) << "the count is unknown before the first run";
      auto max = (*ctx)->getMaxOutputSize("idx");
      ASSERT_TRUE(max);
      EXPECT_EQ(*max, static_cast<size_t>(n) * sizeof(int64_t)) << "NonZero's bound is the element count";
    }
    auto out = (*ctx)->infer({{"x", x}});
    ASSERT_TRUE(out) << out.status().toString();
    std::vector<int64_t> where;
    for (int64_t i = 0; i < n; ++i)
      if (x.dataAs<float>()[i] != 0.0f) where.push_back(i);
    const int64_t c = static_cast<int64_t>(where.size());
    const uint64_t idxBytes = static_cast<uint64_t>(c) * sizeof(int64_t);
    if (idxBytes > largestIdx) {
      ++expectedRequests;
      largestIdx = idxBytes;
    }
    ASSERT_EQ(out->at("idx").dims(), (Dims{1, c}));
    ASSERT_EQ(out->at("vals").dims(), (Dims{c}));
    ASSERT_EQ(out->at("ramp").dims(), (Dims{c}));
    ASSERT_EQ(idxAlloc.shape, (Dims{1, c}));
    ASSERT_EQ(rampAlloc.shape, (Dims{c}));
    EXPECT_EQ((*ctx)->tensorShape("vals").value(), (Dims{c}));
    for (int64_t j = 0; j < c; ++j) {
      const float v = x.dataAs<float>()[where[j]];
      ASSERT_EQ(out->at("idx").dataAs<int64_t>()[j], where[j]);
      ASSERT_EQ(idxAlloc.data<int64_t>()[j], where[j]);
      ASSERT_EQ(out->at("vals").dataAs<float>()[j], 2.0f * v);
      ASSERT_EQ(rampAlloc.data<float>()[j], v + static_cast<float>(j));
    }
  }
  EXPECT_EQ(idxAlloc.notifications, 300);
  EXPECT_EQ(idxAlloc.requests, expectedRequests);
  EXPECT_LT(idxAlloc.requests, 30) << "memory is asked for only when the output grows";
}

TEST(OutputAllocator, UserAddressOfTheBoundSizeReceivesTheOutput) {
  auto engine = buildFor(test::nonZeroGatherGraph(64), DeviceKind::kCpu, {{"x", {1}, {40}, {64}}});
  ASSERT_TRUE(engine) << engine.status().toString();
  auto ctx = (*engine)->createContext().value();
  std::mt19937 rng(7);
  Tensor x = test::sparseVector(37, 0.5, rng);
  ASSERT_TRUE(ctx->setInputShape("x", {37}).isOk());
  std::vector<int64_t> idx(ctx->getMaxOutputSize("idx").value() / sizeof(int64_t), -7);
  std::vector<float> vals(37), ramp(37);
  ASSERT_TRUE(ctx->setTensorAddress("x", x.data()).isOk());
  ASSERT_TRUE(ctx->setTensorAddress("idx", idx.data()).isOk());
  ASSERT_TRUE(ctx->setTensorAddress("vals", vals.data()).isOk());
  ASSERT_TRUE(ctx->setTensorAddress("ramp", ramp.data()).isOk());
  ASSERT_TRUE(ctx->enqueue().isOk());
  int64_t c = 0;
  for (int64_t i = 0; i < 37; ++i)
    if (x.dataAs<float>()[i] != 0.0f) {
      ASSERT_EQ(idx[static_cast<size_t>(c)], i);
      ASSERT_EQ(vals[static_cast<size_t>(c)], 2.0f * x.dataAs<float>()[i]);
      ++c;
    }
  EXPECT_EQ(ctx->tensorShape("idx").value(), (Dims{1, c}));
  EXPECT_GT(c, 5);
}

TEST(DataDependentOps, TopKRunTimeKAndComputedCompress) {
  auto engine = buildFor(test::topKCompressGraph(), DeviceKind::kCpu,
                         {{"x", {1, 1}, {6, 9}, {12, 17}}, {"k", {1}, {1}, {1}}});
  ASSERT_TRUE(engine) << engine.status().toString();
  auto ctx = (*engine)->createContext().value();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  for (int run = 0; run < 40; ++run) {
    const int64_t rows = 1 + rng() % 12, cols = 1 + rng() % 17, k = rng() % (cols + 1);
    Tensor x = Tensor::allocate(DataType::kFloat32, {rows, cols}).value();
    for (int64_t i = 0; i < rows * cols; ++i) x.dataAs<float>()[i] = value(rng);
    Tensor kt = Tensor::allocate(DataType::kInt64, {1}).value();
    kt.dataAs<int64_t>()[0] = k;
    auto out = ctx->infer({{"x", x}, {"k", kt}});
    ASSERT_TRUE(out) << out.status().toString();
    ASSERT_EQ(out->at("values").dims(), (Dims{rows, k}));
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int64_t> order(static_cast<size_t>(cols));
      std::iota(order.begin(), order.end(), 0);
      const float* row = x.dataAs<float>() + r * cols;
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
      for (int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(out->at("indices").dataAs<int64_t>()[r * k + j], order[static_cast<size_t>(j)]);
        ASSERT_EQ(out->at("values").dataAs<float>()[r * k + j], row[order[static_cast<size_t>(j)]]);
      }
    }
    std::vector<int64_t> kept;
    for (int64_t r = 0; r < rows; ++r)
      if (x.dataAs<float>()[r * cols] > 0) kept.push_back(r);
    ASSERT_EQ(out->at("rows").dims(), (Dims{static_cast<int64_t>(kept.size()), cols}));
    for (size_t j = 0; j < kept.size(); ++j)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(out->at("rows").dataAs<float>()[j * cols + c], x.dataAs<float>()[kept[j] * cols + c]);
  }
  // K beyond the axis is refused with the node and the range.
  Tensor x = Tensor::allocate(DataType::kFloat32, {2, 3}).value();
  Tensor kt = Tensor::allocate(DataType::kInt64, {1}).value();
  kt.dataAs<int64_t>()[0] = 4;
  auto bad = ctx->infer({{"x", x}, {"k", kt}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().toString().find("TopK"), std::string::npos) << bad.status().toString();
}

TEST(DataDependentOps, UniqueSortedAndUnsorted) {
  for (bool sorted : {true, false}) {
    auto engine = buildFor(test::uniqueGraph(sorted), DeviceKind::kCpu, {{"x", {1}, {20}, {50}}});
    ASSERT_TRUE(engine) << engine.status().toString();
    auto ctx = (*engine)->createContext().value();
    std::mt19937 rng(sorted ? 11 : 12);
    for (int run = 0; run < 20; ++run) {
      const int64_t n = 1 + rng() % 50;
      Tensor x = Tensor::allocate(DataType::kFloat32, {n}).value();
      for (int64_t i = 0; i < n; ++i) x.dataAs<float>()[i] = static_cast<float>(static_cast<int>(rng() % 9) - 4) * 0.5f;
      auto out = ctx->infer({{"x", x}});
      ASSERT_TRUE(out) << out.status().toString();
      // Reference: distinct values in first-occurrence order, then sorted if asked.
      std::vector<float> distinct;
      for (int64_t i = 0; i < n; ++i)
        if (std::find(distinct.begin(), distinct.end(), x.dataAs<float>()[i]) == distinct.end())
          distinct.push_back(x.dataAs<float>()[i]);
      if (sorted) std::sort(distinct.begin(), distinct.end());
      const int64_t u = static_cast<int64_t>(distinct.size());
      ASSERT_EQ(out->at("y").dims(), (Dims{u}));
      ASSERT_EQ(out->at("inverse").dims(), (Dims{n}));
      for (int64_t j = 0; j < u; ++j) {
        ASSERT_EQ(out->at("y").dataAs<float>()[j], distinct[j]);
        const int64_t first = out->at("indices").dataAs<int64_t>()[j];
        ASSERT_EQ(x.dataAs<float>()[first], distinct[j]);
        ASSERT_EQ(std::find(x.dataAs<float>(), x.dataAs<float>() + n, distinct[j]) - x.dataAs<float>(), first);
        ASSERT_EQ(out->at("counts").dataAs<int64_t>()[j],
                  std::count(x.dataAs<float>(), x.dataAs<float>() + n, distinct[j]));
      }
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(distinct[out->at("inverse").dataAs<int64_t>()[i]], x.dataAs<float>()[i]);
    }
  }
}

// The ONNX operator documentation's NonMaxSuppression examples (suppress_by_IOU, center_point_box, two_classes).
TEST(DataDependentOps, NonMaxSuppressionMatchesTheOnnxExamples) {
  const std::vector<float> corners = {0.0f, 0.0f, 1.0f, 1.0f,  0.0f, 0.1f,  1.0f, 1.1f,  0.0f, -0.1f, 1.0f, 0.9f,
                                      0.0f, 10.0f, 1.0f, 11.0f, 0.0f, 10.1f, 1.0f, 11.1f, 0.0f, 100.0f, 1.0f, 101.0f};
  const std::vector<float> centers = {0.5f, 0.5f,  1.0f, 1.0f, 0.5f, 0.6f,  1.0f, 1.0f, 0.5f, 0.4f,   1.0f, 1.0f,
                                      0.5f, 10.5f, 1.0f, 1.0f, 0.5f, 10.6f, 1.0f, 1.0f, 0.5f, 100.5f, 1.0f, 1.0f};
  const std::vector<float> scores = {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f};
  for (bool center : {false, true}) {
    auto engine = buildFor(test::nmsGraph(center), DeviceKind::kCpu,
                           {{"boxes", {1, 6, 4}, {1, 6, 4}, {1, 6, 4}}, {"scores", {1, 1, 6}, {1, 2, 6}, {1, 2, 6}}});
    ASSERT_TRUE(engine) << engine.status().toString();
    auto ctx = (*engine)->createContext().value();
    Tensor boxes = Tensor::allocate(DataType::kFloat32, {1, 6, 4}).value();
    std::memcpy(boxes.data(), (center ? centers : corners).data(), 24 * sizeof(float));
    for (int classes : {1, 2}) {
      Tensor s = Tensor::allocate(DataType::kFloat32, {1, classes, 6}).value();
      for (int c = 0; c < classes; ++c) std::memcpy(s.dataAs<float>() + c * 6, scores.data(), 6 * sizeof(float));
      auto out = ctx->infer({{"boxes", boxes}, {"scores", s}});
      ASSERT_TRUE(out) << out.status().toString();
      // max_output_boxes_per_class 3, iou 0.5, score 0.1: boxes 3, 0, 5 of each class.
      ASSERT_EQ(out->at("selected").dims(), (Dims{3 * classes, 3}));
      const int64_t want[3] = {3, 0, 5};
      for (int c = 0; c < classes; ++c)
        for (int j = 0; j < 3; ++j) {
          const int64_t* row = out->at("selected").dataAs<int64_t>() + (c * 3 + j) * 3;
          EXPECT_EQ(row[0], 0);
          EXPECT_EQ(row[1], c);
          EXPECT_EQ(row[2], want[j]);
        }
    }
  }
}

}  // namespace
}  // namespace kiln

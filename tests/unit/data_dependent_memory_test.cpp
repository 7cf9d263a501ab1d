// Issue 15's memory rule for data-dependent outputs: an engine run 10,000 times with varying box counts (and so
// varying output sizes and input shapes) keeps its memory within 1 MB after warm-up. CPU backend, NonMaxSuppression
// straight to an output through an OutputAllocator; resident memory from /proc/self/statm. The GPU variant of the
// count check is tests/gpu/data_dependent_gpu_test.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "unit/data_dependent_graphs.h"

namespace kiln {
namespace {

/// Resident set size in bytes.
size_t residentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

/// Grows only: memory for the largest output seen, as a TensorRT allocator that keeps its buffer.
class GrowingAllocator final : public OutputAllocator {
 public:
  ~GrowingAllocator() override { std::free(memory_); }
  void* reallocateOutput(const std::string&, void*, uint64_t size, uint64_t alignment) override {
    std::free(memory_);
    memory_ = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
    ++requests;
    return memory_;
  }
  void notifyShape(const std::string&, const Dims& dims) override { rows = dims.empty() ? -1 : dims[0]; }
  int requests = 0;
  int64_t rows = -1;

 private:
  void* memory_ = nullptr;
};

TEST(DataDependentMemory, TenThousandRunsWithVaryingBoxCountsStayWithinOneMegabyte) {
  constexpr int64_t kMaxBoxes = 256, kClasses = 4;
  auto engine = test::buildFor(test::nmsGraph(false), DeviceKind::kCpu,
                               {{"boxes", {1, 1, 4}, {1, 64, 4}, {1, kMaxBoxes, 4}},
                                {"scores", {1, 1, 1}, {1, kClasses, 64}, {1, kClasses, kMaxBoxes}}});
  ASSERT_TRUE(engine) << engine.status().toString();
  auto ctx = (*engine)->createContext();
  ASSERT_TRUE(ctx) << ctx.status().toString();
  GrowingAllocator selected;
  ASSERT_TRUE((*ctx)->setOutputAllocator("selected", &selected).isOk());
  std::vector<float> boxes(kMaxBoxes * 4), scores(kClasses * kMaxBoxes);
  ASSERT_TRUE((*ctx)->setTensorAddress("boxes", boxes.data()).isOk());
  ASSERT_TRUE((*ctx)->setTensorAddress("scores", scores.data()).isOk());
  std::mt19937 rng(2026);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  size_t afterWarmUp = 0;
  int64_t fewest = kMaxBoxes, most = 0;
  for (int run = 0; run < 10000; ++run) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % kMaxBoxes);
    for (int64_t i = 0; i < n; ++i) {  // corner boxes of random size anywhere in [0, 1]^2
      const float y = unit(rng), x = unit(rng), h = 0.05f + 0.3f * unit(rng), w = 0.05f + 0.3f * unit(rng);
      float* b = &boxes[static_cast<size_t>(i) * 4];
      b[0] = y, b[1] = x, b[2] = y + h, b[3] = x + w;
    }
    for (int64_t c = 0; c < kClasses; ++c)
      for (int64_t i = 0; i < n; ++i) scores[static_cast<size_t>(c * n + i)] = unit(rng);
    ASSERT_TRUE((*ctx)->setInputShape("boxes", {1, n, 4}).isOk());
    ASSERT_TRUE((*ctx)->setInputShape("scores", {1, kClasses, n}).isOk());
    const Status ran = (*ctx)->enqueue(nullptr);
    ASSERT_TRUE(ran.isOk()) << "run " << run << ": " << ran.toString();
    // At most 3 boxes per class survive (the graph's max_output_boxes_per_class), at least one when any score
    // passes 0.1.
    ASSERT_GE(selected.rows, 0);
    ASSERT_LE(selected.rows, 3 * kClasses) << "run " << run;
    fewest = std::min(fewest, selected.rows);
    most = std::max(most, selected.rows);
    if (run == 999) afterWarmUp = residentBytes();
  }
  const size_t end = residentBytes();
  const double grownMb = (static_cast<double>(end) - static_cast<double>(afterWarmUp)) / (1 << 20);
  std::printf("resident after 1,000 runs %.1f MB, after 10,000 %.1f MB (%+.3f MB); %d allocator requests; "
              "%lld to %lld boxes selected\n",
              afterWarmUp / 1048576.0, end / 1048576.0, grownMb, selected.requests, static_cast<long long>(fewest),
              static_cast<long long>(most));
  EXPECT_LE(grownMb, 1.0) << "memory grew after warm-up";
  EXPECT_LT(fewest, most) << "the box counts did not vary";
  EXPECT_LT(selected.requests, 20) << "the allocator is asked only when the output grows";
}

}  // namespace
}  // namespace kiln

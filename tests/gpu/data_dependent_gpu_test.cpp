// Data-dependent outputs on CUDA against the CPU backend (the reference, DESIGN.md rule 8): the same engines built
// for both, the same random inputs, outputs compared exactly (indices, counts, and float values that are only
// moved or doubled). Covers NonZero -> Reshape -> Gather/Range (layers that wait for the count), TopK with a
// run-time K, Compress with a computed condition, Unique sorted/unsorted, NonMaxSuppression in both box formats,
// with CUDA graphs on, and an OutputAllocator on device memory asked only when an output grows.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstring>

#include "test_util/gpu.h"
#include "unit/data_dependent_graphs.h"

namespace kiln {
namespace {

using test::buildFor;

void expectSame(const std::map<std::string, Tensor>& cpu, const std::map<std::string, Tensor>& gpu,
                const std::string& what) {
  ASSERT_EQ(cpu.size(), gpu.size()) << what;
  for (const auto& [name, c] : cpu) {
    const Tensor& g = gpu.at(name);
    ASSERT_EQ(c.dims(), g.dims()) << what << " output " << name;
    ASSERT_EQ(c.dtype(), g.dtype()) << what << " output " << name;
    ASSERT_EQ(std::memcmp(c.data(), g.data(), c.byteSize()), 0) << what << " output " << name;
  }
}

struct Pair {
  std::unique_ptr<ExecutionContext> cpu, gpu;
};

Pair contexts(const std::function<Network()>& make, const std::vector<InputShapeRange>& ranges) {
  auto cpu = buildFor(make(), DeviceKind::kCpu, ranges);
  auto gpu = buildFor(make(), DeviceKind::kCuda, ranges);
  EXPECT_TRUE(cpu) << cpu.status().toString();
  EXPECT_TRUE(gpu) << gpu.status().toString();
  if (!cpu || !gpu) return {};
  return {(*cpu)->createContext().value(), (*gpu)->createContext().value()};
}

TEST(DataDependentGpu, NonZeroGatherRangeMatchesCpu) {
  REQUIRE_GPU();
  auto p = contexts([] { return test::nonZeroGatherGraph(5000); }, {{"x", {1}, {1000}, {5000}}});
  ASSERT_TRUE(p.gpu);
  std::mt19937 rng(1);
  for (int run = 0; run < 60; ++run) {
    const int64_t n = 1 + rng() % 5000;
    Tensor x = test::sparseVector(n, std::uniform_real_distribution<double>(0, 1)(rng), rng);
    auto c = p.cpu->infer({{"x", x}});
    auto g = p.gpu->infer({{"x", x}});
    ASSERT_TRUE(c) << c.status().toString();
    ASSERT_TRUE(g) << g.status().toString();
    expectSame(*c, *g, "n=" + std::to_string(n));
  }
}

TEST(DataDependentGpu, TopKCompressUniqueNmsMatchCpu) {
  REQUIRE_GPU();
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  {
    auto p = contexts(test::topKCompressGraph, {{"x", {1, 1}, {6, 9}, {33, 70}}, {"k", {1}, {1}, {1}}});
    ASSERT_TRUE(p.gpu);
    for (int run = 0; run < 30; ++run) {
      const int64_t rows = 1 + rng() % 33, cols = 1 + rng() % 70, k = rng() % (cols + 1);
      Tensor x = Tensor::allocate(DataType::kFloat32, {rows, cols}).value();
      for (int64_t i = 0; i < rows * cols; ++i) x.dataAs<float>()[i] = value(rng);
      Tensor kt = Tensor::allocate(DataType::kInt64, {1}).value();
      kt.dataAs<int64_t>()[0] = k;
      auto c = p.cpu->infer({{"x", x}, {"k", kt}});
      auto g = p.gpu->infer({{"x", x}, {"k", kt}});
      ASSERT_TRUE(c && g) << (c ? g.status() : c.status()).toString();
      expectSame(*c, *g, "topk/compress " + dimsToString(x.dims()) + " k=" + std::to_string(k));
    }
  }
  for (bool sorted : {true, false}) {
    auto p = contexts([&] { return test::uniqueGraph(sorted); }, {{"x", {1}, {100}, {700}}});
    ASSERT_TRUE(p.gpu);
    for (int run = 0; run < 10; ++run) {
      const int64_t n = 1 + rng() % 700;
      Tensor x = Tensor::allocate(DataType::kFloat32, {n}).value();
      for (int64_t i = 0; i < n; ++i) x.dataAs<float>()[i] = static_cast<float>(static_cast<int>(rng() % 41) - 20) * 0.25f;
      auto c = p.cpu->infer({{"x", x}});
      auto g = p.gpu->infer({{"x", x}});
      ASSERT_TRUE(c && g) << (c ? g.status() : c.status()).toString();
      expectSame(*c, *g, std::string("unique sorted=") + (sorted ? "1" : "0") + " n=" + std::to_string(n));
    }
  }
  for (bool center : {false, true}) {
    auto p = contexts([&] { return test::nmsGraph(center); },
                      {{"boxes", {1, 1, 4}, {1, 50, 4}, {1, 300, 4}}, {"scores", {1, 1, 1}, {1, 3, 50}, {1, 8, 300}}});
    ASSERT_TRUE(p.gpu);
    for (int run = 0; run < 10; ++run) {
      const int64_t n = 1 + rng() % 300, classes = 1 + rng() % 8;
      Tensor boxes = Tensor::allocate(DataType::kFloat32, {1, n, 4}).value();
      Tensor scores = Tensor::allocate(DataType::kFloat32, {1, classes, n}).value();
      std::uniform_real_distribution<float> pos(0.0f, 10.0f), size(0.5f, 3.0f), score(0.0f, 1.0f);
      for (int64_t i = 0; i < n; ++i) {
        float* b = boxes.dataAs<float>() + i * 4;
        b[0] = pos(rng);
        b[1] = pos(rng);
        b[2] = center ? size(rng) : b[0] + size(rng);
        b[3] = center ? size(rng) : b[1] + size(rng);
      }
      for (int64_t i = 0; i < classes * n; ++i) scores.dataAs<float>()[i] = score(rng);
      auto c = p.cpu->infer({{"boxes", boxes}, {"scores", scores}});
      auto g = p.gpu->infer({{"boxes", boxes}, {"scores", scores}});
      ASSERT_TRUE(c && g) << (c ? g.status() : c.status()).toString();
      expectSame(*c, *g, "nms n=" + std::to_string(n) + " classes=" + std::to_string(classes));
    }
  }
}

class DeviceAllocator final : public OutputAllocator {
 public:
  ~DeviceAllocator() override { cudaFree(memory_); }
  void* reallocateOutput(const std::string&, void* current, uint64_t size, uint64_t) override {
    EXPECT_EQ(current, memory_);
    ++requests;
    cudaFree(memory_);
    memory_ = nullptr;
    if (cudaMalloc(&memory_, size) != cudaSuccess) return nullptr;
    return memory_;
  }
  void notifyShape(const std::string&, const Dims& dims) override { shape = dims; }
  void* memory_ = nullptr;
  int requests = 0;
  Dims shape;
};

// enqueue on a user stream with CUDA graphs on (NMS alone needs no wait, so its graph is captured and replayed).
TEST(DataDependentGpu, AllocatorOnDeviceWithCudaGraphs) {
  REQUIRE_GPU();
  auto cpuEngine = buildFor(test::nmsGraph(false), DeviceKind::kCpu,
                            {{"boxes", {1, 64, 4}, {1, 64, 4}, {1, 64, 4}}, {"scores", {1, 4, 64}, {1, 4, 64}, {1, 4, 64}}});
  auto gpuEngine = buildFor(test::nmsGraph(false), DeviceKind::kCuda,
                            {{"boxes", {1, 64, 4}, {1, 64, 4}, {1, 64, 4}}, {"scores", {1, 4, 64}, {1, 4, 64}, {1, 4, 64}}});
  ASSERT_TRUE(cpuEngine && gpuEngine);
  auto cpu = (*cpuEngine)->createContext().value();
  auto gpu = (*gpuEngine)->createContext().value();
  DeviceAllocator alloc;
  ASSERT_TRUE(gpu->setOutputAllocator("selected", &alloc).isOk());
  void *dBoxes = nullptr, *dScores = nullptr;
  ASSERT_EQ(cudaMalloc(&dBoxes, 64 * 4 * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dScores, 4 * 64 * 4), cudaSuccess);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ASSERT_TRUE(gpu->setInputShape("boxes", {1, 64, 4}).isOk());
  ASSERT_TRUE(gpu->setInputShape("scores", {1, 4, 64}).isOk());
  ASSERT_TRUE(gpu->setTensorAddress("boxes", dBoxes).isOk());
  ASSERT_TRUE(gpu->setTensorAddress("scores", dScores).isOk());
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> pos(0.0f, 6.0f), size(0.5f, 3.0f), score(0.0f, 1.0f);
  uint64_t largest = 0;
  int expected = 0;
  for (int run = 0; run < 50; ++run) {
    Tensor boxes = Tensor::allocate(DataType::kFloat32, {1, 64, 4}).value();
    Tensor scores = Tensor::allocate(DataType::kFloat32, {1, 4, 64}).value();
    const float spread = 1.0f + static_cast<float>(run % 7);
    for (int i = 0; i < 64; ++i) {
      float* b = boxes.dataAs<float>() + i * 4;
      b[0] = pos(rng) * spread;
      b[1] = pos(rng) * spread;
      b[2] = b[0] + size(rng);
      b[3] = b[1] + size(rng);
    }
    for (int i = 0; i < 4 * 64; ++i) scores.dataAs<float>()[i] = score(rng);
    ASSERT_EQ(cudaMemcpy(dBoxes, boxes.data(), boxes.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dScores, scores.data(), scores.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_TRUE(gpu->enqueue(stream).isOk());
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    auto want = cpu->infer({{"boxes", boxes}, {"scores", scores}});
    ASSERT_TRUE(want);
    const Tensor& w = want->at("selected");
    ASSERT_EQ(alloc.shape, w.dims());
    if (w.byteSize() > largest) {
      largest = w.byteSize();
      ++expected;
    }
    std::vector<int64_t> got(static_cast<size_t>(w.elementCount()));
    ASSERT_EQ(cudaMemcpy(got.data(), alloc.memory_, w.byteSize(), cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(std::memcmp(got.data(), w.data(), w.byteSize()), 0) << "run " << run;
  }
  EXPECT_EQ(alloc.requests, expected);
  cudaStreamDestroy(stream);
  cudaFree(dBoxes);
  cudaFree(dScores);
}

}  // namespace
}  // namespace kiln

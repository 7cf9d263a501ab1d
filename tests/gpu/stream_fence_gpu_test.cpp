// Stream fences in CUDA engines (builder/run_agreement.h): an FP16 engine with a fence before every layer, as the
// builder leaves one whose races it cannot pin to single boundaries, says so in its layer descriptions and answers
// like the CPU backend's FP32 engine in a plain run, in the run that captures a CUDA graph (the fence kernel inside
// the capture) and in the replays, at the opt batch and at batches the tuner did not see.
#include <gtest/gtest.h>

#include "builder/run_agreement.h"
#include "gpu/cnn_block_gpu_util.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "test_util/gpu.h"
#include "unit/fused_elementwise_graphs.h"

namespace kiln {
namespace {

using namespace cnnblocks;

Expected<std::vector<std::byte>> buildBlock(const ir::Graph& g, DeviceKind device) {
  auto graph = std::make_unique<ir::Graph>(g);
  const ir::ValueId x = graph->inputs[0];
  graph->values[x].dims[0] = kDynamicDim;
  Network network(std::move(graph));
  BuilderConfig config;
  config.device = device;
  if (device == DeviceKind::kCuda) config.allow(Precision::kFP16);
  Dims lo = g.values[x].dims, opt = lo, hi = lo;
  lo[0] = 1, opt[0] = 4, hi[0] = 8;
  OptimizationProfile profile;
  profile.inputs.push_back({g.values[x].name, lo, opt, hi});
  config.addProfile(profile);
  return buildEngine(network, config);
}

TEST(StreamFence, EveryLayerFencedAnswersRightPlainAndFromACudaGraph) {
  REQUIRE_GPU();
  const auto blocks = allBlocks(kBatch, kSize);
  for (size_t b = 0; b < blocks.size(); b += 4) {
    const Block& block = blocks[b];
    auto cpuBytes = buildBlock(block.graph, DeviceKind::kCpu);
    auto gpuBytes = buildBlock(block.graph, DeviceKind::kCuda);
    ASSERT_TRUE(cpuBytes.hasValue()) << cpuBytes.status().toString();
    ASSERT_TRUE(gpuBytes.hasValue()) << block.name << ": " << gpuBytes.status().toString();
    auto model = Engine::loadFromMemory(gpuBytes->data(), gpuBytes->size());
    ASSERT_TRUE(model.hasValue()) << model.status().toString();
    std::vector<size_t> every((*model)->layerDescriptions().size());
    for (size_t i = 0; i < every.size(); ++i) every[i] = i;
    auto fencedBytes = builder::withFencesBefore(*gpuBytes, every);
    ASSERT_TRUE(fencedBytes.hasValue()) << fencedBytes.status().toString();
    auto cpu = Engine::loadFromMemory(cpuBytes->data(), cpuBytes->size());
    auto fenced = Engine::loadFromMemory(fencedBytes->data(), fencedBytes->size());
    ASSERT_TRUE(cpu.hasValue() && fenced.hasValue());
    size_t shown = 0;
    for (const std::string& line : (*fenced)->layerDescriptions())
      shown += line.find("(after a stream fence)") != std::string::npos;
    EXPECT_GT(shown, 0u) << block.name;
    auto cpuContext = std::move((*cpu)->createContext(0).value());
    auto context = std::move((*fenced)->createContext(0).value());
    const ir::ValueId x = block.graph.inputs[0];
    for (int64_t batch : {4, 3, 8}) {
      Dims dims = block.graph.values[x].dims;
      dims[0] = batch;
      const std::map<std::string, Tensor> in{
          {block.graph.values[x].name, fusedtest::randomTensor(DataType::kFloat32, dims, 900u + batch, -1.5, 1.5)}};
      auto want = cpuContext->infer(in);
      ASSERT_TRUE(want.hasValue()) << want.status().toString();
      for (int run = 1; run <= 4; ++run) {  // plain, capture, replay, replay
        auto got = context->infer(in);
        ASSERT_TRUE(got.hasValue()) << block.name << ": " << got.status().toString();
        for (const auto& [name, reference] : *want)
          expectClose(statsOf(got->at(name), reference), 0.999, 2e-2,
                      block.name + " fenced, batch " + std::to_string(batch) + ", run " + std::to_string(run));
      }
    }
  }
}

}  // namespace
}  // namespace kiln

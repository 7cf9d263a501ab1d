// MobileNetV2/V3 and EfficientNet blocks (unit/cnn_block_graphs.h) built by the whole builder for CUDA (passes,
// per-layer precision, tactic tuning at batches 1..8) against the CPU backend's FP32 engine, one block per test,
// each with FP16, BF16, and FP32 with TF32 (TF32 runs the same channels-last forms and fusions in float32: if it
// fails too, the layout or a fusion is wrong, not the narrow type). The accuracy guard is off so that a wrong
// narrow kernel shows here instead of being promoted to FP32. Every run prints cosine, max abs error / max |ref| and
// each layer's tactic; cnn_block_kernels_gpu_test.cpp then tells which kernel of a failing block is wrong.
// Tolerance: cosine >= 0.999 and max abs error <= 2e-2 * max|reference| (issue 10's bar for whole models).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <optional>

#include "gpu/cnn_block_gpu_util.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "test_util/gpu.h"

namespace kiln {
namespace {

using namespace cnnblocks;

enum class Mode { kFP16, kBF16, kTF32 };
const char* modeName(Mode m) { return m == Mode::kFP16 ? "fp16" : m == Mode::kBF16 ? "bf16" : "tf32"; }

Expected<std::shared_ptr<Engine>> buildBlock(const ir::Graph& g, DeviceKind device, std::optional<Mode> mode) {
  auto graph = std::make_unique<ir::Graph>(g);
  const ir::ValueId x = graph->inputs[0];
  graph->values[x].dims[0] = kDynamicDim;  // a dynamic batch, as exported models have
  Network network(std::move(graph));
  BuilderConfig config;
  config.device = device;
  config.disallow(Precision::kTF32);
  if (mode == Mode::kFP16) config.allow(Precision::kFP16);
  if (mode == Mode::kBF16) config.allow(Precision::kBF16);
  if (mode == Mode::kTF32) config.allow(Precision::kTF32);
  config.accuracyGuard = false;  // a wrong narrow kernel must show here, not be promoted to FP32
  Dims lo = g.values[x].dims, opt = lo, hi = lo;
  lo[0] = 1, opt[0] = 4, hi[0] = 8;
  OptimizationProfile profile;
  profile.inputs.push_back({g.values[x].name, lo, opt, hi});
  config.addProfile(profile);
  KILN_ASSIGN_OR_RETURN(auto plan, buildEngine(network, config));
  return Engine::loadFromMemory(plan.data(), plan.size());
}

class CnnBlockEngines : public ::testing::TestWithParam<std::tuple<int, Mode>> {};

TEST_P(CnnBlockEngines, MatchCpuFp32) {
  REQUIRE_GPU();
  const auto [index, mode] = GetParam();
  auto blocks = allBlocks(kBatch, kSize);
  const Block& block = blocks[static_cast<size_t>(index)];
  const std::string label = block.name + " " + modeName(mode);
  auto cpu = buildBlock(block.graph, DeviceKind::kCpu, std::nullopt);
  ASSERT_TRUE(cpu.hasValue()) << cpu.status().toString();
  auto gpu = buildBlock(block.graph, DeviceKind::kCuda, mode);
  ASSERT_TRUE(gpu.hasValue()) << label << ": " << gpu.status().toString();
  auto cpuContext = std::move((*cpu)->createContext(0).value());
  auto gpuContext = std::move((*gpu)->createContext(0).value());
  const ir::ValueId x = block.graph.inputs[0];
  for (int64_t batch : {1, 3}) {
    Dims dims = block.graph.values[x].dims;
    dims[0] = batch;
    const std::map<std::string, Tensor> in{
        {block.graph.values[x].name, fusedtest::randomTensor(DataType::kFloat32, dims, 500u + batch, -1.5, 1.5)}};
    auto want = cpuContext->infer(in);
    auto got = gpuContext->infer(in);
    ASSERT_TRUE(want.hasValue()) << want.status().toString();
    ASSERT_TRUE(got.hasValue()) << label << ": " << got.status().toString();
    for (const auto& [name, reference] : *want) {
      ASSERT_TRUE(got->count(name)) << label << ": no output " << name;
      expectClose(statsOf(got->at(name), reference), 0.999, 2e-2, label + " batch " + std::to_string(batch));
    }
  }
  // No layer may read memory that nothing in the run wrote: its answer would then depend on what the last run left
  // (a repeated run with the same inputs answering differently). Batches the tuner did not see included.
  for (int64_t batch : {3, 5, 8}) {
    Dims dims = block.graph.values[x].dims;
    dims[0] = batch;
    const std::map<std::string, Tensor> in{
        {block.graph.values[x].name, fusedtest::randomTensor(DataType::kFloat32, dims, 700u + batch, -1.5, 1.5)}};
    auto zeros = gpuContext->traceLayers(in, 0x00);
    auto ones = gpuContext->traceLayers(in, 0xFF);
    ASSERT_TRUE(zeros.hasValue() && ones.hasValue()) << label << ": trace failed";
    ASSERT_EQ(zeros->size(), ones->size());
    for (size_t i = 0; i < zeros->size(); ++i)
      EXPECT_EQ((*zeros)[i].bitsHash, (*ones)[i].bitsHash)
          << label << " batch " << batch << ": layer '" << (*zeros)[i].name << "' (" << (*zeros)[i].op << ", "
          << (*zeros)[i].tactic << ") reads unwritten memory: NaN/Inf " << (*zeros)[i].nonFinite << " vs "
          << (*ones)[i].nonFinite;
    // Back to back, as a plain run launches them, the layers answer what they answer synchronized one by one.
    auto race = gpuContext->findRacingBoundaries(in, 3);
    ASSERT_TRUE(race.hasValue()) << label << ": " << race.status().toString();
    EXPECT_EQ(race->plainRunsWrong, 0) << label << " batch " << batch << ": plain runs differ from synchronized ones by "
                                       << race->worstPlainError << " of scale";
  }
  auto layers = gpuContext->profileLayers(nullptr, 1);
  ASSERT_TRUE(layers.hasValue()) << layers.status().toString();
  for (const auto& layer : *layers)
    std::printf("[  LAYER   ] %s: %s (%s) %s\n", label.c_str(), layer.name.c_str(), layer.op.c_str(),
                layer.tactic.c_str());
}

INSTANTIATE_TEST_SUITE_P(Blocks, CnnBlockEngines,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(blockCount())),
                                            ::testing::Values(Mode::kFP16, Mode::kBF16, Mode::kTF32)),
                         [](const ::testing::TestParamInfo<std::tuple<int, Mode>>& info) {
                           return testName(static_cast<size_t>(std::get<0>(info.param))) + "_" +
                                  modeName(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace kiln

// ExecutionContext::traceLayers on the CPU backend: every CPU kernel of the CNN blocks (unit/cnn_block_graphs.h)
// answers the same on memory filled with 0x00 and with 0xFF, i.e. reads nothing that the run did not write, and the
// traced run's last layer is the ordinary run's output. The GPU side is in gpu/cnn_block_engines_gpu_test.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "fused_elementwise_graphs.h"
#include "cnn_block_graphs.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"

namespace kiln {
namespace {

Expected<std::shared_ptr<Engine>> buildForCpu(const ir::Graph& g) {
  auto graph = std::make_unique<ir::Graph>(g);
  const ir::ValueId x = graph->inputs[0];
  graph->values[x].dims[0] = kDynamicDim;
  Network network(std::move(graph));
  BuilderConfig config;
  config.device = DeviceKind::kCpu;
  Dims lo = g.values[x].dims, opt = lo, hi = lo;
  lo[0] = 1, opt[0] = 2, hi[0] = 5;
  OptimizationProfile profile;
  profile.inputs.push_back({g.values[x].name, lo, opt, hi});
  config.addProfile(profile);
  KILN_ASSIGN_OR_RETURN(auto plan, buildEngine(network, config));
  return Engine::loadFromMemory(plan.data(), plan.size());
}

TEST(LayerTrace, CpuKernelsReadOnlyWhatTheRunWrote) {
  for (const cnnblocks::Block& block : cnnblocks::allBlocks(2, 10)) {
    auto engine = buildForCpu(block.graph);
    ASSERT_TRUE(engine.hasValue()) << block.name << ": " << engine.status().toString();
    auto context = std::move((*engine)->createContext(0).value());
    const ir::ValueId x = block.graph.inputs[0];
    Dims dims = block.graph.values[x].dims;
    dims[0] = 3;  // not the opt batch
    const std::map<std::string, Tensor> in{
        {block.graph.values[x].name, fusedtest::randomTensor(DataType::kFloat32, dims, 17, -1.5, 1.5)}};
    auto zeros = context->traceLayers(in, 0x00);
    auto ones = context->traceLayers(in, 0xFF);
    ASSERT_TRUE(zeros.hasValue()) << block.name << ": " << zeros.status().toString();
    ASSERT_TRUE(ones.hasValue()) << block.name << ": " << ones.status().toString();
    ASSERT_EQ(zeros->size(), ones->size());
    ASSERT_FALSE(zeros->empty());
    for (size_t i = 0; i < zeros->size(); ++i) {
      EXPECT_EQ((*zeros)[i].bitsHash, (*ones)[i].bitsHash)
          << block.name << ": layer '" << (*zeros)[i].name << "' (" << (*zeros)[i].op << ") reads unwritten memory";
      EXPECT_EQ((*ones)[i].nonFinite, 0) << block.name << ": layer '" << (*ones)[i].name << "' has NaN/Inf";
    }
    // The traced run computes what an ordinary run does: the last layer's digest is the output's.
    auto out = context->infer(in);
    ASSERT_TRUE(out.hasValue()) << out.status().toString();
    const Tensor& y = out->begin()->second;
    double sumAbs = 0;
    for (int64_t i = 0; i < y.elementCount(); ++i) sumAbs += std::fabs(y.dataAs<float>()[i]);
    EXPECT_GT(sumAbs, 0) << block.name;
    EXPECT_NEAR(zeros->back().sumAbs, sumAbs, 1e-9 * sumAbs) << block.name;
  }
}

// On the CPU the layers run one after the other whatever the barriers: the search sees no race and says so.
TEST(RaceSearch, CpuEngineHasNoRacingBoundary) {
  for (const cnnblocks::Block& block : cnnblocks::allBlocks(2, 10)) {
    auto engine = buildForCpu(block.graph);
    ASSERT_TRUE(engine.hasValue()) << block.name << ": " << engine.status().toString();
    auto context = std::move((*engine)->createContext(0).value());
    const ir::ValueId x = block.graph.inputs[0];
    Dims dims = block.graph.values[x].dims;
    dims[0] = 5;
    const std::map<std::string, Tensor> in{
        {block.graph.values[x].name, fusedtest::randomTensor(DataType::kFloat32, dims, 29, -1.5, 1.5)}};
    auto search = context->findRacingBoundaries(in, 2);
    ASSERT_TRUE(search.hasValue()) << block.name << ": " << search.status().toString();
    EXPECT_GT(search->layers, 0u) << block.name;
    EXPECT_EQ(search->plainRuns, 2) << block.name;
    EXPECT_EQ(search->plainRunsWrong, 0) << block.name;
    EXPECT_EQ(search->worstPlainError, 0.0) << block.name << ": the CPU backend is deterministic";
    EXPECT_TRUE(search->boundaries.empty()) << block.name;
  }
}

TEST(RaceSearch, RefusesInputsOfAnotherType) {
  const cnnblocks::Block block = cnnblocks::allBlocks(2, 10).front();
  auto engine = buildForCpu(block.graph);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto context = std::move((*engine)->createContext(0).value());
  const std::map<std::string, Tensor> in{{block.graph.values[block.graph.inputs[0]].name,
                                          fusedtest::randomTensor(DataType::kFloat16,
                                                                  block.graph.values[block.graph.inputs[0]].dims, 3)}};
  auto search = context->findRacingBoundaries(in, 1);
  ASSERT_FALSE(search.hasValue());
  EXPECT_NE(search.status().message().find("must be float32"), std::string::npos) << search.status().message();
}

TEST(LayerTrace, RefusesInputsOfAnotherType) {
  const cnnblocks::Block block = cnnblocks::allBlocks(2, 10).front();
  auto engine = buildForCpu(block.graph);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto context = std::move((*engine)->createContext(0).value());
  Dims dims = block.graph.values[block.graph.inputs[0]].dims;
  const std::map<std::string, Tensor> in{{block.graph.values[block.graph.inputs[0]].name,
                                          fusedtest::randomTensor(DataType::kFloat16, dims, 3)}};
  auto trace = context->traceLayers(in, 0);
  ASSERT_FALSE(trace.hasValue());
  EXPECT_NE(trace.status().message().find("must be float32"), std::string::npos) << trace.status().message();
}

}  // namespace
}  // namespace kiln

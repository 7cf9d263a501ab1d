// builder::findRunToRunDisagreement and makeRunsAgree, the check a CUDA build runs on its finished engine
// (build_engine.cpp), and the stream fences it adds where runs disagree. Here on CPU engines, which must pass it
// unchanged; the GPU machine exercises the CUDA path in every build (the seed CNN's FP16 engine at batch 127 and 128
// needs a fence: examples/python/processor_v3.py --fail-above in scripts/gpu-check.sh).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "builder/run_agreement.h"
#include "cnn_block_graphs.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"

namespace kiln {
namespace {

Expected<std::vector<std::byte>> buildCpu(const ir::Graph& g, bool dynamicBatch) {
  auto graph = std::make_unique<ir::Graph>(g);
  const ir::ValueId x = graph->inputs[0];
  BuilderConfig config;
  config.device = DeviceKind::kCpu;
  if (dynamicBatch) {
    graph->values[x].dims[0] = kDynamicDim;
    Dims lo = g.values[x].dims, hi = lo;
    lo[0] = 1, hi[0] = 3;
    OptimizationProfile profile;
    profile.inputs.push_back({g.values[x].name, lo, g.values[x].dims, hi});
    config.addProfile(profile);
  }
  Network network(std::move(graph));
  return buildEngine(network, config);
}

TEST(RunAgreement, DeterministicEnginesAgreeAtEveryCheckedShape) {
  const auto blocks = cnnblocks::allBlocks(2, 8);
  for (size_t i = 0; i < blocks.size(); i += 3) {
    for (bool dynamicBatch : {true, false}) {
      auto bytes = buildCpu(blocks[i].graph, dynamicBatch);
      ASSERT_TRUE(bytes.hasValue()) << blocks[i].name << ": " << bytes.status().toString();
      auto found = builder::findRunToRunDisagreement(*bytes);
      ASSERT_TRUE(found.hasValue()) << blocks[i].name << ": " << found.status().toString();
      EXPECT_FALSE(found->has_value()) << blocks[i].name << ": " << (*found)->description;
    }
  }
}

TEST(RunAgreement, AnAgreeingEngineComesBackWithoutFences) {
  const auto blocks = cnnblocks::allBlocks(2, 8);
  auto bytes = buildCpu(blocks[0].graph, true);
  ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
  auto agreed = builder::makeRunsAgree(*bytes);
  ASSERT_TRUE(agreed.hasValue()) << agreed.status().toString();
  EXPECT_EQ(agreed->disagreement, "");
  EXPECT_TRUE(agreed->fencedLayers.empty());
  EXPECT_EQ(agreed->engine, *bytes);
}

Expected<std::map<std::string, Tensor>> runOnce(const std::vector<std::byte>& bytes, const Tensor& x,
                                                const std::string& name) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, Engine::loadFromMemory(bytes.data(), bytes.size()));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> context, engine->createContext(0));
  return context->infer({{name, x}});
}

TEST(RunAgreement, FencesAreKeptInTheEngineShownByInspectAndChangeNoAnswer) {
  const auto blocks = cnnblocks::allBlocks(2, 8);
  const ir::Graph& g = blocks[0].graph;
  auto bytes = buildCpu(g, true);
  ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
  auto plain = Engine::loadFromMemory(bytes->data(), bytes->size());
  ASSERT_TRUE(plain.hasValue()) << plain.status().toString();
  const std::vector<std::string> before = (*plain)->layerDescriptions();
  ASSERT_GE(before.size(), 2u);
  const size_t fencedNode = before.size() - 1;
  auto fenced = builder::withFencesBefore(*bytes, {fencedNode});
  ASSERT_TRUE(fenced.hasValue()) << fenced.status().toString();
  auto loaded = Engine::loadFromMemory(fenced->data(), fenced->size());
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  const std::vector<std::string> after = (*loaded)->layerDescriptions();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    const bool shown = after[i].find("(after a stream fence)") != std::string::npos;
    EXPECT_EQ(shown, i == fencedNode) << after[i];
  }
  // Same answer, bit for bit, at a batch other than opt.
  const ir::ValueId x = g.inputs[0];
  Dims dims = g.values[x].dims;
  dims[0] = 3;
  Tensor input = Tensor::allocate(DataType::kFloat32, dims).value();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < input.elementCount(); ++i) input.dataAs<float>()[i] = dist(rng);
  auto a = runOnce(*bytes, input, g.values[x].name);
  auto b = runOnce(*fenced, input, g.values[x].name);
  ASSERT_TRUE(a.hasValue() && b.hasValue());
  ASSERT_EQ(a->size(), b->size());
  for (const auto& [name, t] : *a) {
    ASSERT_EQ(b->at(name).byteSize(), t.byteSize()) << name;
    EXPECT_EQ(std::memcmp(b->at(name).data(), t.data(), t.byteSize()), 0) << name;
  }
}

TEST(RunAgreement, AFenceOutsideTheGraphIsRefused) {
  const auto blocks = cnnblocks::allBlocks(2, 8);
  auto bytes = buildCpu(blocks[0].graph, false);
  ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
  auto fenced = builder::withFencesBefore(*bytes, {100000});
  ASSERT_FALSE(fenced.hasValue());
  EXPECT_NE(fenced.status().message().find("node 100000"), std::string::npos) << fenced.status().message();
}

TEST(RunAgreement, RefusesBytesThatAreNoEngine) {
  std::vector<std::byte> junk(64, std::byte{0x5a});
  auto found = builder::findRunToRunDisagreement(junk);
  EXPECT_FALSE(found.hasValue());
}

}  // namespace
}  // namespace kiln

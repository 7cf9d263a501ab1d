// builder::findRunToRunDisagreement, the check a tuned CUDA build runs on its finished engine (build_engine.cpp).
// Here on CPU engines, which must pass it; the GPU machine exercises the CUDA path in every tuned build.
#include <gtest/gtest.h>

#include "builder/run_agreement.h"
#include "cnn_block_graphs.h"
#include "kiln/builder.h"

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

TEST(RunAgreement, DeterministicEnginesAgreeAtOptAndMax) {
  const auto blocks = cnnblocks::allBlocks(2, 8);
  for (size_t i = 0; i < blocks.size(); i += 3) {
    for (bool dynamicBatch : {true, false}) {
      auto bytes = buildCpu(blocks[i].graph, dynamicBatch);
      ASSERT_TRUE(bytes.hasValue()) << blocks[i].name << ": " << bytes.status().toString();
      auto found = builder::findRunToRunDisagreement(*bytes);
      ASSERT_TRUE(found.hasValue()) << blocks[i].name << ": " << found.status().toString();
      EXPECT_EQ(*found, "") << blocks[i].name;
    }
  }
}

TEST(RunAgreement, RefusesBytesThatAreNoEngine) {
  std::vector<std::byte> junk(64, std::byte{0x5a});
  auto found = builder::findRunToRunDisagreement(junk);
  EXPECT_FALSE(found.hasValue());
}

}  // namespace
}  // namespace kiln

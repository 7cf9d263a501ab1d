// The CUDA builder's graph rewrites on MobileNet/EfficientNet blocks (cnn_block_graphs.h), checked on the CPU: the
// graph after the passes, in the order build_engine.cpp runs them (conv epilogues, GEMM epilogues, channels-last,
// graph-API conv epilogues, elementwise chains), is written back in plain ops (lower_for_cpu.h, which spells out the
// contract of each CUDA-only form) and must compute what the original graph computes. A pass that drops a consumer,
// mis-lays a tensor, matches the wrong operand or records the wrong activation parameters fails here.
// Tolerance: both sides are float32 on the CPU and differ only in summation order (packed stem, NHWC transposes are
// exact): max |a - b| <= 2e-5 * max |reference| and cosine >= 0.99999.
#include <gtest/gtest.h>

#include <cstdio>

#include "unit/cnn_block_graphs.h"
#include "unit/lower_for_cpu.h"

namespace kiln {
namespace {

using ir::OpKind;

std::string summary(const ir::Graph& g) {
  std::string s;
  for (const ir::Node& n : g.nodes) {
    s += std::string(ir::opKindName(n.op));
    if (n.attrs.has("activation")) s += "[" + n.attrs.getString("activation", "") + "]";
    if (n.attrs.getString("data_format", "") == "NHWC") s += "(nhwc)";
    s += " ";
  }
  return s;
}

class CnnBlockPasses : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value()); }
  std::unique_ptr<backends::Backend> cpu_;
};

void expectSame(const Tensor& got, const Tensor& want, const std::string& label) {
  ASSERT_EQ(got.dims(), want.dims()) << label;
  double maxRef = 0, maxErr = 0, dot = 0, ng = 0, nw = 0;
  for (int64_t i = 0; i < want.elementCount(); ++i) {
    const double w = fusedtest::elementOf(want, i), a = fusedtest::elementOf(got, i);
    ASSERT_TRUE(std::isfinite(a)) << label << ": element " << i << " is " << a;
    maxRef = std::max(maxRef, std::fabs(w));
    maxErr = std::max(maxErr, std::fabs(a - w));
    dot += a * w, ng += a * a, nw += w * w;
  }
  const double cosine = ng > 0 && nw > 0 ? dot / std::sqrt(ng * nw) : (ng == nw ? 1.0 : 0.0);
  EXPECT_GT(maxRef, 0) << label << ": degenerate reference";
  EXPECT_LE(maxErr, 2e-5 * maxRef) << label << ": max abs err " << maxErr << " of scale " << maxRef;
  EXPECT_GE(cosine, 0.99999) << label;
}

TEST_P(CnnBlockPasses, RewrittenGraphComputesTheOriginal) {
  for (const auto& [n, hw] : {std::pair<int64_t, int64_t>{2, 8}, {3, 7}}) {
    auto blocks = cnnblocks::allBlocks(n, hw);
    ASSERT_LT(static_cast<size_t>(GetParam()), blocks.size());
    cnnblocks::Block& block = blocks[static_cast<size_t>(GetParam())];
    const std::string label = block.name + " at batch " + std::to_string(n) + ", " + std::to_string(hw) + "x" +
                              std::to_string(hw);
    SCOPED_TRACE(label);
    ir::Graph& g = block.graph;
    ASSERT_TRUE(fusedtest::annotate(g).isOk());
    const auto inputs = fusedtest::randomInputs(g, 77);
    auto want = fusedtest::runGraph(*cpu_, g, inputs);
    ASSERT_TRUE(want.hasValue()) << want.status().toString();

    ir::Graph rewritten = g;
    const Status passed = cnnblocks::runCudaPasses(rewritten);
    ASSERT_TRUE(passed.isOk()) << passed.toString();
    if (n == 2) std::printf("[  GRAPH   ] %s: %s\n", block.name.c_str(), summary(rewritten).c_str());
    auto lowered = lowering::lowerForCpu(rewritten);
    ASSERT_TRUE(lowered.hasValue()) << lowered.status().toString();
    auto got = fusedtest::runGraph(*cpu_, *lowered, inputs);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    ASSERT_EQ(got->size(), want->size());
    for (const auto& [name, tensor] : *want) {
      ASSERT_TRUE(got->count(name)) << "output " << name << " is missing after the passes";
      expectSame(got->at(name), tensor, label + ", output " + name);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Blocks, CnnBlockPasses,
                         ::testing::Range(0, static_cast<int>(cnnblocks::allBlocks(1, 4).size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           std::string name = cnnblocks::allBlocks(1, 4)[static_cast<size_t>(info.param)].name;
                           std::string id = std::to_string(info.param) + "_";
                           for (char c : name)
                             if (std::isalnum(static_cast<unsigned char>(c))) id += c;
                             else if (id.back() != '_') id += '_';
                           return id;
                         });

}  // namespace
}  // namespace kiln

// Graph passes on the generated seed CNN: what each rewrite leaves behind, and that shapes still resolve.
#include <gtest/gtest.h>

#include <algorithm>

#include "ir/graph.h"
#include "kiln/builder.h"
#include "passes/passes.h"
#include "runtime/shape_program.h"
#include "test_util/test_dirs.h"

namespace kiln {
namespace {

Network loadSeed() {
  auto net = parseOnnxFile(test::testDataRoot() + "/models/seed_cnn.onnx");
  EXPECT_TRUE(net.hasValue()) << net.status().toString();
  return std::move(*net);
}

int count(const ir::Graph& g, ir::OpKind op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const ir::Node& n) { return n.op == op; }));
}

/// Resolves every value's dims at batch `b` and sets them on the graph, as the builder does.
void annotate(ir::Graph& g, int64_t b) {
  auto program = runtime::analyzeShapeProgram(g);
  auto shapes = runtime::resolveShapes(g, program, {{g.inputs[0], {b, 3, 256, 144}}});
  ASSERT_TRUE(shapes.hasValue()) << shapes.status().toString();
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (shapes->dtypes[v] == DataType::kUndefined || g.isConstant(static_cast<ir::ValueId>(v))) continue;
    g.values[v].rankKnown = true;
    g.values[v].dims = shapes->dims[v];
    g.values[v].dtype = shapes->dtypes[v];
  }
}

TEST(Passes, BatchNormsFoldIntoConvs) {
  Network net = loadSeed();
  ir::Graph& g = net.graph();
  const int bns = count(g, ir::OpKind::kBatchNormalization);
  ASSERT_GT(bns, 0);
  ASSERT_TRUE(passes::runGraphPasses(g, {}).isOk());
  EXPECT_EQ(count(g, ir::OpKind::kBatchNormalization), 0);
  for (const auto& n : g.nodes)
    if (n.op == ir::OpKind::kConv) EXPECT_EQ(n.inputs.size(), 3u) << n.name << " should have gained a bias";
}

TEST(Passes, ShapeOfStaticDimsFoldsTheFlattenArithmetic) {
  Network net = loadSeed();
  ir::Graph& g = net.graph();
  ASSERT_TRUE(passes::runGraphPasses(g, {}).isOk());
  EXPECT_EQ(count(g, ir::OpKind::kShape), 1) << "batch is dynamic: the Shape of the pooled tensor stays";
  annotate(g, 3);
  g.values[g.inputs[0]].dims[0] = 3;  // now static everywhere
  annotate(g, 3);
  ASSERT_TRUE(passes::runGraphPasses(g, {}).isOk());
  EXPECT_EQ(count(g, ir::OpKind::kShape), 0);
  EXPECT_EQ(count(g, ir::OpKind::kGather), 0);
  EXPECT_EQ(count(g, ir::OpKind::kConcat), 0);
}

TEST(Passes, ConvEpiloguesFuseBiasResidualAndRelu) {
  Network net = loadSeed();
  ir::Graph& g = net.graph();
  ASSERT_TRUE(passes::runGraphPasses(g, {}).isOk());
  annotate(g, 2);
  const int relus = count(g, ir::OpKind::kRelu), adds = count(g, ir::OpKind::kAdd);
  auto fused = passes::fuseConvEpilogues(g);
  ASSERT_TRUE(fused.hasValue()) << fused.status().toString();
  EXPECT_GT(*fused, 0);
  EXPECT_LT(count(g, ir::OpKind::kRelu), relus);
  EXPECT_LT(count(g, ir::OpKind::kAdd), adds) << "residual adds should merge into convs";
  int withResidual = 0;
  for (const auto& n : g.nodes)
    if (n.op == ir::OpKind::kConv && n.inputs.size() == 4) ++withResidual;
  EXPECT_GT(withResidual, 0);
  annotate(g, 5);  // shapes still resolve, residual dims checked by Conv's inference
  EXPECT_EQ(g.values[g.outputs[0]].dims, (Dims{5, 128}));
}

TEST(Passes, ChannelsLastKeepsTransposesAtTheEdgesOnly) {
  Network net = loadSeed();
  ir::Graph& g = net.graph();
  ASSERT_TRUE(passes::runGraphPasses(g, {}).isOk());
  annotate(g, 2);
  ASSERT_TRUE(passes::fuseConvEpilogues(g).hasValue());
  annotate(g, 2);
  auto converted = passes::convertToNhwc(g);
  ASSERT_TRUE(converted.hasValue()) << converted.status().toString();
  for (const auto& n : g.nodes)
    if (n.op == ir::OpKind::kConv || n.op == ir::OpKind::kMaxPool || n.op == ir::OpKind::kGlobalAveragePool)
      EXPECT_EQ(n.attrs.getString("data_format", ""), "NHWC") << n.name;
  // The 3-channel stride-2 stem reads the NCHW input through one packing SpaceToDepth (space_to_depth_stem.h):
  // no Transpose into NHWC and no channel Pad; one Transpose back after the global pool (before the flatten).
  EXPECT_EQ(count(g, ir::OpKind::kTranspose), 1);
  EXPECT_EQ(count(g, ir::OpKind::kPad), 0);
  EXPECT_EQ(count(g, ir::OpKind::kSpaceToDepth), 1);
  annotate(g, 7);
  EXPECT_EQ(g.values[g.outputs[0]].dims, (Dims{7, 128}));
}

}  // namespace
}  // namespace kiln

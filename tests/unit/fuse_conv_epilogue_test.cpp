// The conv-epilogue fusion pass's graph-API forms on hand-built NHWC float16 graphs: which activations it folds into
// the Conv (with what attributes), and the shapes of graph it must leave alone.
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ir/graph.h"
#include "passes/passes.h"

namespace kiln {
namespace {

using ir::OpKind;

Tensor halfConstant(Dims dims, float value) {
  Tensor t = Tensor::allocate(DataType::kFloat16, std::move(dims)).value();
  for (int64_t i = 0; i < t.elementCount(); ++i) t.dataAs<uint16_t>()[i] = floatToHalfBits(value + 0.01f * float(i));
  return t;
}

ir::ValueId addNode(ir::Graph& g, const std::string& name, OpKind op, std::vector<ir::ValueId> inputs,
                    ir::Attributes attrs = {}) {
  ir::Node n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  const ir::ValueId out = g.addValue(name + "_out", DataType::kFloat16);
  g.values[out].rankKnown = true;
  g.values[out].dims = {kDynamicDim, 5, 7, 8};
  n.outputs = {out};
  g.nodes.push_back(std::move(n));
  return out;
}

/// x [N,5,7,4] NHWC float16 -> Conv(W [8,3,3,4], B [8]) -> conv_out; the caller adds what follows.
struct ConvGraph {
  ir::Graph g;
  ir::ValueId convOut = ir::kNoValue;
  ConvGraph() {
    const ir::ValueId x = g.addValue("x", DataType::kFloat16);
    g.values[x].rankKnown = true;
    g.values[x].dims = {kDynamicDim, 5, 7, 4};
    g.inputs.push_back(x);
    const ir::ValueId w = g.addConstant("w", halfConstant({8, 3, 3, 4}, 0.1f));
    const ir::ValueId b = g.addConstant("b", halfConstant({8}, 0.2f));
    ir::Attributes a;
    a.set("data_format", std::string("NHWC"));
    a.set("pads", std::vector<int64_t>{1, 1, 1, 1});
    convOut = addNode(g, "conv", OpKind::kConv, {x, w, b}, a);
  }
  void output(ir::ValueId v) { g.outputs.push_back(v); }
  const ir::Node* conv() const {
    for (const ir::Node& n : g.nodes)
      if (n.op == OpKind::kConv) return &n;
    return nullptr;
  }
};

TEST(FuseConvEpilogue, ClipWithConstantBoundsFuses) {
  ConvGraph c;
  const ir::ValueId lo = c.g.addConstant("lo", halfConstant({}, 0.f)), hi = c.g.addConstant("hi", halfConstant({}, 6.f));
  const ir::ValueId y = addNode(c.g, "relu6", OpKind::kClip, {c.convOut, lo, hi});
  c.output(y);
  auto fused = passes::fuseConvEpilogues(c.g, /*graphApiForms=*/true);
  ASSERT_TRUE(fused.hasValue()) << fused.status().toString();
  EXPECT_EQ(*fused, 1);
  ASSERT_EQ(c.g.nodes.size(), 1u);
  const ir::Node& conv = *c.conv();
  EXPECT_EQ(conv.attrs.getString("activation", ""), "Clip");
  EXPECT_EQ(conv.attrs.getFloat("activation_min", -1.f), 0.f);
  EXPECT_EQ(conv.attrs.getFloat("activation_max", -1.f), 6.f);
  EXPECT_EQ(conv.outputs[0], y);
  EXPECT_EQ(conv.attrs.getStrings("fused_nodes"), std::vector<std::string>{"relu6"});
}

TEST(FuseConvEpilogue, ClipWithAbsentBoundIsInfinite) {
  ConvGraph c;
  const ir::ValueId hi = c.g.addConstant("hi", halfConstant({1}, 0.5f));
  c.output(addNode(c.g, "clip", OpKind::kClip, {c.convOut, ir::kNoValue, hi}));
  ASSERT_EQ(passes::fuseConvEpilogues(c.g, true).value(), 1);
  const ir::Node& conv = *c.conv();
  EXPECT_TRUE(std::isinf(conv.attrs.getFloat("activation_min", 0.f)));
  EXPECT_LT(conv.attrs.getFloat("activation_min", 0.f), 0.f);
  EXPECT_EQ(conv.attrs.getFloat("activation_max", 0.f), 0.5f);
}

TEST(FuseConvEpilogue, ClipWithComputedBoundStays) {
  ConvGraph c;
  c.g.inputs.push_back(c.g.addValue("bound", DataType::kFloat16));
  c.output(addNode(c.g, "clip", OpKind::kClip, {c.convOut, c.g.inputs.back()}));
  ASSERT_EQ(passes::fuseConvEpilogues(c.g, true).value(), 0);
  EXPECT_EQ(c.g.nodes.size(), 2u);
  EXPECT_FALSE(c.conv()->attrs.has("activation"));
}

TEST(FuseConvEpilogue, HardSwishAndHardSigmoidFuse) {
  for (OpKind op : {OpKind::kHardSwish, OpKind::kHardSigmoid}) {
    ConvGraph c;
    ir::Attributes a;
    if (op == OpKind::kHardSigmoid) a.set("alpha", 0.25f);  // beta stays at its default 0.5
    c.output(addNode(c.g, "act", op, {c.convOut}, a));
    ASSERT_EQ(passes::fuseConvEpilogues(c.g, true).value(), 1) << ir::opKindName(op);
    const ir::Node& conv = *c.conv();
    EXPECT_EQ(conv.attrs.getString("activation", ""), std::string(ir::opKindName(op)));
    if (op == OpKind::kHardSigmoid) {
      EXPECT_EQ(conv.attrs.getFloat("activation_alpha", 0.f), 0.25f);
      EXPECT_EQ(conv.attrs.getFloat("activation_beta", 0.f), 0.5f);
    }
  }
}

TEST(FuseConvEpilogue, GraphApiFormsNeedTheGraphStage) {
  // Without graphApiForms (the NCHW stage before FP16/NHWC conversion) only Relu fuses.
  ConvGraph c;
  c.output(addNode(c.g, "act", OpKind::kHardSwish, {c.convOut}));
  ASSERT_EQ(passes::fuseConvEpilogues(c.g, false).value(), 0);
  EXPECT_EQ(c.g.nodes.size(), 2u);
}

TEST(FuseConvEpilogue, ActivationOfAGraphOutputStays) {
  // The conv's own output is also a graph output: fusing would lose it.
  ConvGraph c;
  c.output(c.convOut);
  c.output(addNode(c.g, "act", OpKind::kHardSwish, {c.convOut}));
  ASSERT_EQ(passes::fuseConvEpilogues(c.g, true).value(), 0);
  EXPECT_EQ(c.g.nodes.size(), 2u);
}

}  // namespace
}  // namespace kiln

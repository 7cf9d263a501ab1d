// The channels-last pass on grouped convolutions: weights go from [K, C/group, R, S] to [K, R, S, C/group] with
// every element where it belongs, and the graph's shapes still resolve (a depthwise conv's weights once came out
// [K, R, S, C], which shape inference refused).
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/shape_program.h"

namespace kiln {
namespace {

using ir::OpKind;

Tensor numbered(Dims dims) {
  Tensor t = Tensor::allocate(DataType::kFloat32, std::move(dims)).value();
  for (int64_t i = 0; i < t.elementCount(); ++i) t.dataAs<float>()[i] = 1.f + static_cast<float>(i);
  return t;
}

ir::ValueId addConv(ir::Graph& g, const std::string& name, ir::ValueId x, Dims w, int64_t group, Dims out) {
  ir::Node n;
  n.name = name;
  n.op = OpKind::kConv;
  n.inputs = {x, g.addConstant(name + "_w", numbered(w)), g.addConstant(name + "_b", numbered({w[0]}))};
  n.attrs.set("group", group);
  n.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  const ir::ValueId y = g.addValue(name + "_out", DataType::kFloat32);
  g.values[y].rankKnown = true;
  g.values[y].dims = std::move(out);
  n.outputs = {y};
  g.nodes.push_back(std::move(n));
  return y;
}

TEST(ConvertToNhwc, GroupedConvWeightsKeepTheirChannelsPerGroup) {
  ir::Graph g;
  const ir::ValueId x = g.addValue("x", DataType::kFloat32);
  g.values[x].rankKnown = true;
  g.values[x].dims = {2, 8, 9, 7};
  g.inputs.push_back(x);
  const ir::ValueId d = addConv(g, "depthwise", x, {8, 1, 3, 3}, 8, {2, 8, 9, 7});
  g.outputs.push_back(addConv(g, "grouped", d, {12, 4, 3, 3}, 2, {2, 12, 9, 7}));
  const Tensor original = *g.constantOf(g.nodes[1].inputs[1]);

  auto converted = passes::convertToNhwc(g);
  ASSERT_TRUE(converted.hasValue()) << converted.status().toString();
  const ir::Node* depthwise = nullptr;
  const ir::Node* grouped = nullptr;
  for (const ir::Node& n : g.nodes) {
    if (n.name == "depthwise") depthwise = &n;
    if (n.name == "grouped") grouped = &n;
  }
  ASSERT_TRUE(depthwise && grouped);
  EXPECT_EQ(depthwise->attrs.getString("data_format", ""), "NHWC");
  EXPECT_EQ(g.constantOf(depthwise->inputs[1])->dims(), (Dims{8, 3, 3, 1}));
  const Tensor& krsc = *g.constantOf(grouped->inputs[1]);
  ASSERT_EQ(krsc.dims(), (Dims{12, 3, 3, 4}));
  for (int64_t k = 0; k < 12; ++k)
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t s = 0; s < 3; ++s)
          ASSERT_EQ(krsc.dataAs<float>()[((k * 3 + r) * 3 + s) * 4 + c],
                    original.dataAs<float>()[((k * 4 + c) * 3 + r) * 3 + s])
              << "k " << k << " c " << c << " r " << r << " s " << s;

  // Every value's shape resolves at another batch, through the NHWC convs' own inference.
  const auto program = runtime::analyzeShapeProgram(g);
  auto shapes = runtime::resolveShapes(g, program, {{x, {5, 8, 9, 7}}});
  ASSERT_TRUE(shapes.hasValue()) << shapes.status().toString();
  EXPECT_EQ(shapes->dims[g.outputs[0]], (Dims{5, 12, 9, 7}));
}

}  // namespace
}  // namespace kiln

// passes::fuseGemmEpilogues: which Gemm/MatMul + bias Add + activation chains become one node and which do not,
// that the fused MatMul form passes shape inference (and a bad bias does not), and that the CPU backend either runs
// the fused form exactly (bias only: fused vs unfused on the CPU within 1e-6 relative + 1e-6 absolute; both float32
// sgemm, the bias added after the product in both) or refuses it (a fused activation), never dropping a part.
#include <gtest/gtest.h>

#include "passes/passes.h"
#include "unit/gemm_epilogue_graphs.h"

namespace kiln {
namespace {

using namespace gemmtest;
using fusedtest::annotate;

/// Annotates, fuses, re-annotates (shape inference must accept the fused form); returns the number fused.
int fuse(ir::Graph& g) {
  const Status before = annotate(g);
  EXPECT_TRUE(before.isOk()) << before.toString();
  auto fused = passes::fuseGemmEpilogues(g);
  EXPECT_TRUE(fused.hasValue()) << fused.status().toString();
  const Status after = annotate(g);
  EXPECT_TRUE(after.isOk()) << after.toString();
  return fused.hasValue() ? *fused : -1;
}

TEST(FuseGemmEpilogue, MatMulAddReluBecomesOneMatMul) {
  ir::Graph g = matmulBiasAct({.a = {7, 33}, .n = 19}).g;
  const ValueId bias = g.nodes[1].inputs[1];
  ASSERT_EQ(fuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  const ir::Node& n = g.nodes[0];
  EXPECT_EQ(n.op, OpKind::kMatMul);
  ASSERT_EQ(n.inputs.size(), 3u);
  EXPECT_EQ(g.values[n.inputs[2]].name, g.values[bias].name);
  EXPECT_TRUE(g.isConstant(n.inputs[2]));
  EXPECT_EQ(n.attrs.getString("activation", ""), "Relu");
  EXPECT_EQ(n.attrs.getStrings("fused_nodes"), (std::vector<std::string>{"add", "relu"}));
  EXPECT_EQ(g.values[n.outputs[0]].name, "relu_out");
  EXPECT_EQ(g.values[g.outputs[0]].name, "relu_out");
  EXPECT_EQ(g.values[n.outputs[0]].dims, (Dims{7, 19}));
}

TEST(FuseGemmEpilogue, BiasOnTheLeftAndRowVectorBias) {
  ir::Graph left = matmulBiasAct({.a = {4, 8}, .n = 5, .biasLeft = true}).g;
  ASSERT_EQ(fuse(left), 1);
  ASSERT_EQ(left.nodes.size(), 1u);
  EXPECT_EQ(left.nodes[0].inputs.size(), 3u);
  ir::Graph row = matmulBiasAct({.a = {4, 8}, .n = 5, .biasDims = {1, 5}}).g;
  ASSERT_EQ(fuse(row), 1);
  ASSERT_EQ(row.nodes.size(), 1u);
  EXPECT_EQ(row.values[row.nodes[0].inputs[2]].dims, (Dims{1, 5}));
}

TEST(FuseGemmEpilogue, BatchedActivationFoldsIntoM) {
  ir::Graph g = matmulBiasAct({.a = {2, 3, 16}, .n = 12}).g;
  ASSERT_EQ(fuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.values[g.outputs[0]].dims, (Dims{2, 3, 12}));
}

TEST(FuseGemmEpilogue, GemmTakesTheBiasAsCAndGeluTanh) {
  ir::Graph g = gemmBiasAct(6, 10, 9, /*transB=*/true, Act::kGeluTanh).g;
  ASSERT_EQ(fuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  const ir::Node& n = g.nodes[0];
  EXPECT_EQ(n.op, OpKind::kGemm);
  ASSERT_EQ(n.inputs.size(), 3u);
  EXPECT_TRUE(g.isConstant(n.inputs[2]));
  EXPECT_EQ(g.values[n.inputs[2]].dims, (Dims{9}));
  EXPECT_EQ(n.attrs.getFloat("beta", -1.f), 1.f);
  EXPECT_EQ(n.attrs.getInt("transB", 0), 1);
  EXPECT_EQ(n.attrs.getString("activation", ""), "GeluTanh");
  EXPECT_EQ(n.attrs.getStrings("fused_nodes"), (std::vector<std::string>{"add", "gelu"}));
}

TEST(FuseGemmEpilogue, ExactGeluStaysButTheBiasFuses) {
  ir::Graph g = matmulBiasAct({.a = {5, 6}, .n = 7, .act = Act::kGeluExact}).g;
  ASSERT_EQ(fuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  const ir::Node* mm = firstOf(g, OpKind::kMatMul);
  ASSERT_NE(mm, nullptr);
  EXPECT_EQ(mm->inputs.size(), 3u);
  EXPECT_FALSE(mm->attrs.has("activation"));
  EXPECT_EQ(mm->attrs.getStrings("fused_nodes"), (std::vector<std::string>{"add"}));
  EXPECT_EQ(countOps(g, OpKind::kGelu), 1);
  EXPECT_EQ(countOps(g, OpKind::kAdd), 0);
}

TEST(FuseGemmEpilogue, ActivationAloneFuses) {
  ir::Graph g = matmulBiasAct({.a = {5, 6}, .n = 7, .bias = false}).g;
  ASSERT_EQ(fuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].inputs.size(), 2u);
  EXPECT_EQ(g.nodes[0].attrs.getString("activation", ""), "Relu");
  EXPECT_EQ(g.nodes[0].attrs.getStrings("fused_nodes"), (std::vector<std::string>{"relu"}));
}

TEST(FuseGemmEpilogue, NothingToGainOrNotABiasLeavesTheGraph) {
  // MatMul alone; an exact Gelu with no bias; a [M,N] addend; a [1,1] addend (a scalar, not a row vector).
  for (const MatMulSpec& spec : {MatMulSpec{.a = {4, 6}, .n = 5, .bias = false, .act = Act::kNone},
                                 MatMulSpec{.a = {4, 6}, .n = 5, .bias = false, .act = Act::kGeluExact},
                                 MatMulSpec{.a = {4, 6}, .n = 5, .biasDims = {4, 5}},
                                 MatMulSpec{.a = {4, 6}, .n = 5, .biasDims = {1, 1}}}) {
    ir::Graph g = matmulBiasAct(spec).g;
    const size_t nodes = g.nodes.size();
    EXPECT_EQ(fuse(g), 0) << dimsToString(spec.biasDims);
    EXPECT_EQ(g.nodes.size(), nodes);
    EXPECT_EQ(firstOf(g, OpKind::kMatMul)->inputs.size(), 2u);
  }
}

TEST(FuseGemmEpilogue, NonConstantBiasIsNotFused) {
  GraphBuilder b;
  const ValueId a = b.input("a", {4, 6});
  const ValueId bias = b.input("bias", {5});
  const ValueId y = b.op(OpKind::kMatMul, {a, b.constant(randomValues(30, 3), {6, 5})}, {}, "matmul");
  b.output(b.op(OpKind::kRelu, {b.op(OpKind::kAdd, {y, bias}, {}, "add")}, {}, "relu"));
  ir::Graph g = std::move(b.g);
  EXPECT_EQ(fuse(g), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(FuseGemmEpilogue, SharedOrOutputIntermediatesBlockFusion) {
  {  // the product is also read by another node
    GraphBuilder b;
    const ValueId a = b.input("a", {4, 6});
    const ValueId y = b.op(OpKind::kMatMul, {a, b.constant(randomValues(30, 3), {6, 5})}, {}, "matmul");
    b.output(b.op(OpKind::kAdd, {y, b.constant(randomValues(5, 4), {5})}, {}, "add"));
    b.output(b.op(OpKind::kNeg, {y}, {}, "neg"));
    ir::Graph g = std::move(b.g);
    EXPECT_EQ(fuse(g), 0);
    EXPECT_EQ(g.nodes.size(), 3u);
  }
  {  // the product is a graph output
    GraphBuilder b;
    const ValueId a = b.input("a", {4, 6});
    const ValueId y = b.op(OpKind::kMatMul, {a, b.constant(randomValues(30, 3), {6, 5})}, {}, "matmul");
    b.output(y);
    b.output(b.op(OpKind::kRelu, {y}, {}, "relu"));
    ir::Graph g = std::move(b.g);
    EXPECT_EQ(fuse(g), 0);
    EXPECT_EQ(g.nodes.size(), 2u);
  }
  {  // the biased sum is read twice: the bias fuses, the Relu stays
    GraphBuilder b;
    const ValueId a = b.input("a", {4, 6});
    const ValueId y = b.op(OpKind::kMatMul, {a, b.constant(randomValues(30, 3), {6, 5})}, {}, "matmul");
    const ValueId sum = b.op(OpKind::kAdd, {y, b.constant(randomValues(5, 4), {5})}, {}, "add");
    b.output(b.op(OpKind::kRelu, {sum}, {}, "relu"));
    b.output(b.op(OpKind::kNeg, {sum}, {}, "neg"));
    ir::Graph g = std::move(b.g);
    EXPECT_EQ(fuse(g), 1);
    EXPECT_EQ(g.nodes.size(), 3u);
    EXPECT_EQ(countOps(g, OpKind::kRelu), 1);
    EXPECT_FALSE(firstOf(g, OpKind::kMatMul)->attrs.has("activation"));
  }
}

TEST(FuseGemmEpilogue, BatchedConstantBIsNotFused) {
  GraphBuilder b;
  const ValueId a = b.input("a", {2, 4, 6});
  const ValueId y = b.op(OpKind::kMatMul, {a, b.constant(randomValues(60, 3), {2, 6, 5})}, {}, "matmul");
  b.output(b.op(OpKind::kRelu, {b.op(OpKind::kAdd, {y, b.constant(randomValues(5, 4), {5})}, {}, "add")}, {}, "relu"));
  ir::Graph g = std::move(b.g);
  EXPECT_EQ(fuse(g), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(FuseGemmEpilogue, GemmWithCOrScalingKeepsItsForm) {
  {  // Gemm with a [M,N] C: not fused at all
    GraphBuilder b;
    const ValueId a = b.input("a", {4, 6});
    const ValueId c = b.constant(randomValues(20, 5), {4, 5});
    const ValueId y = b.op(OpKind::kGemm, {a, b.constant(randomValues(30, 3), {6, 5}), c}, {}, "gemm");
    b.output(b.op(OpKind::kRelu, {y}, {}, "relu"));
    ir::Graph g = std::move(b.g);
    EXPECT_EQ(fuse(g), 0);
    EXPECT_EQ(g.nodes.size(), 2u);
  }
  {  // Gemm with a vector C (beta 1): takes the Relu, keeps its C, leaves a further Add alone
    GraphBuilder b;
    const ValueId a = b.input("a", {4, 6});
    const ValueId c = b.constant(randomValues(5, 5), {5});
    const ValueId y = b.op(OpKind::kGemm, {a, b.constant(randomValues(30, 3), {6, 5}), c}, {}, "gemm");
    b.output(b.op(OpKind::kRelu, {y}, {}, "relu"));
    ir::Graph g = std::move(b.g);
    EXPECT_EQ(fuse(g), 1);
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].inputs[2], c);
    EXPECT_EQ(g.nodes[0].attrs.getString("activation", ""), "Relu");
  }
  {  // Gemm with beta 0.5 and a vector C: not fused
    GraphBuilder b;
    const ValueId a = b.input("a", {4, 6});
    const ValueId c = b.constant(randomValues(5, 5), {5});
    const ValueId y = b.op(OpKind::kGemm, {a, b.constant(randomValues(30, 3), {6, 5}), c},
                           fusedtest::attrs({{"beta", 0.5f}}), "gemm");
    b.output(b.op(OpKind::kRelu, {y}, {}, "relu"));
    ir::Graph g = std::move(b.g);
    EXPECT_EQ(fuse(g), 0);
  }
  {  // Gemm with alpha 2 and no C: the Relu fuses, the Add does not
    GraphBuilder b;
    const ValueId a = b.input("a", {4, 6});
    const ValueId y =
        b.op(OpKind::kGemm, {a, b.constant(randomValues(30, 3), {6, 5})}, fusedtest::attrs({{"alpha", 2.f}}), "gemm");
    const ValueId sum = b.op(OpKind::kAdd, {y, b.constant(randomValues(5, 4), {5})}, {}, "add");
    b.output(b.op(OpKind::kRelu, {sum}, {}, "relu"));
    ir::Graph g = std::move(b.g);
    EXPECT_EQ(fuse(g), 0) << "the Relu reads the Add, which the Gemm cannot take";
  }
}

TEST(FuseGemmEpilogue, Float16Fuses) {
  ir::Graph g = matmulBiasAct({.a = {3, 8}, .n = 4, .dtype = DataType::kFloat16}).g;
  ASSERT_EQ(fuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.values[g.nodes[0].inputs[2]].dtype, DataType::kFloat16);
}

TEST(FuseGemmEpilogue, ShapeInferenceChecksTheBias) {
  for (const Dims& bad : {Dims{4}, Dims{5, 1}, Dims{2, 5}, Dims{1, 1, 5}}) {
    GraphBuilder b;
    const ValueId a = b.input("a", {3, 6});
    const ValueId w = b.constant(randomValues(30, 3), {6, 5});
    const ValueId bias = b.constant(randomValues(elementCount(bad), 4), bad);
    b.output(b.op(OpKind::kMatMul, {a, w, bias}, {}, "matmul"));
    const Status st = annotate(b.g);
    ASSERT_FALSE(st.isOk()) << dimsToString(bad);
    EXPECT_NE(st.message().find("bias"), std::string::npos) << st.toString();
    EXPECT_NE(st.message().find("matmul"), std::string::npos) << st.toString();
  }
}

TEST(FuseGemmEpilogue, CpuRunsTheBiasFormAndRefusesAFusedActivation) {
  auto cpu = backends::createBackend(DeviceKind::kCpu);
  ASSERT_TRUE(cpu.hasValue());
  for (const Dims& a : {Dims{7, 33}, Dims{2, 3, 17}, Dims{1, 64}}) {
    SCOPED_TRACE(dimsToString(a));
    ir::Graph g = matmulBiasAct({.a = a, .n = 19, .act = Act::kNone}).g;
    ASSERT_TRUE(annotate(g).isOk());
    const auto inputs = fusedtest::randomInputs(g, 99);
    auto before = fusedtest::runGraph(**cpu, g, inputs);
    ASSERT_TRUE(before.hasValue()) << before.status().toString();
    ASSERT_EQ(fuse(g), 1);
    ASSERT_EQ(g.nodes.size(), 1u);
    auto after = fusedtest::runGraph(**cpu, g, inputs);
    ASSERT_TRUE(after.hasValue()) << after.status().toString();
    for (const auto& [name, want] : *before)
      EXPECT_EQ(fusedtest::expectClose(after->at(name), fusedtest::toRef(want), 1e-6, 1e-6, name), 0);
  }
  ir::Graph relu = matmulBiasAct({.a = {4, 8}, .n = 3}).g;
  ASSERT_EQ(fuse(relu), 1);
  const Status refused = (*cpu)->supports(relu, relu.nodes[0]);
  EXPECT_FALSE(refused.isOk());
  EXPECT_NE(refused.message().find("matmul"), std::string::npos) << refused.toString();
}

}  // namespace
}  // namespace kiln

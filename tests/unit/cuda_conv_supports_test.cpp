// What the CUDA conv and GEMM family says it runs (supports(), no GPU needed): the per-layer precision pass keeps a
// node in FP32 where supports() says no, so the answer must be yes exactly for the types and forms the kernels
// handle. float32, float16 and bfloat16 convs (NCHW/NHWC, grouped, fused epilogues), Gemm/MatMul and ConvTranspose;
// mixed operand types, other types and graph-only epilogues on grouped convs are refused with the node named.
#include <gtest/gtest.h>

#include "backends/cuda/conv1x1_cublaslt.h"
#include "backends/cuda/conv_cudnn_graph.h"
#include "backends/cuda/conv_transpose.h"
#include "backends/cuda/cuda_common.h"
#include "ir/graph.h"

namespace kiln {
namespace {

using ir::OpKind;

/// One node whose input k has dtype types[k] and dims dims[k] (inputs 1 and 2 constants, as weights are).
ir::Graph node(OpKind op, std::vector<DataType> types, std::vector<Dims> dims, ir::Attributes attrs = {}) {
  ir::Graph g;
  ir::Node n;
  n.name = "layer";
  n.op = op;
  n.attrs = std::move(attrs);
  for (size_t k = 0; k < types.size(); ++k) {
    ir::ValueId v;
    if (k == 1 || k == 2) {
      v = g.addConstant("c" + std::to_string(k), Tensor::allocate(types[k], dims[k]).value());
    } else {
      v = g.addValue("in" + std::to_string(k), types[k]);
      g.inputs.push_back(v);
    }
    g.values[v].rankKnown = true;
    g.values[v].dims = dims[k];
    n.inputs.push_back(v);
  }
  n.outputs = {g.addValue("y", types[0])};
  g.outputs = n.outputs;
  g.nodes.push_back(std::move(n));
  return g;
}

ir::Attributes nhwc(std::string activation = "", int64_t group = 1) {
  ir::Attributes a;
  a.set("data_format", std::string("NHWC"));
  if (!activation.empty()) a.set("activation", activation);
  a.set("group", group);
  return a;
}

constexpr DataType kTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};

TEST(CudaConvSupports, EveryFloatTypeOnEveryPath) {
  using namespace backends::cuda;
  for (DataType t : kTypes) {
    SCOPED_TRACE(dataTypeName(t));
    const Dims x{2, 8, 9, 16}, w{32, 3, 3, 16}, b{32};
    ir::Graph plain = node(OpKind::kConv, {t, t, t}, {{2, 16, 8, 9}, {32, 16, 3, 3}, b});
    EXPECT_TRUE(convSupports(plain, plain.nodes[0]).isOk()) << convSupports(plain, plain.nodes[0]).toString();
    ir::Graph relu = node(OpKind::kConv, {t, t, t, t}, {{2, 16, 8, 9}, {32, 16, 3, 3}, b, {2, 32, 8, 9}},
                          [] { ir::Attributes a; a.set("activation", std::string("Relu")); return a; }());
    EXPECT_TRUE(convSupports(relu, relu.nodes[0]).isOk()) << convSupports(relu, relu.nodes[0]).toString();
    for (const char* act : {"", "Relu", "HardSwish", "HardSigmoid", "Silu", "Clip", "Identity"}) {
      ir::Graph g = node(OpKind::kConv, {t, t, t}, {x, w, b}, nhwc(act));
      EXPECT_TRUE(convSupports(g, g.nodes[0]).isOk()) << act << ": " << convSupports(g, g.nodes[0]).toString();
      EXPECT_TRUE(convGraphQualifies(g, g.nodes[0]).isOk()) << act;
    }
    ir::Graph depthwise = node(OpKind::kConv, {t, t, t}, {{2, 8, 9, 24}, {24, 3, 3, 1}, {24}}, nhwc("Relu", 24));
    EXPECT_TRUE(convSupports(depthwise, depthwise.nodes[0]).isOk());
    ir::Graph pointwise = node(OpKind::kConv, {t, t, t}, {{2, 8, 9, 16}, {32, 1, 1, 16}, b}, nhwc("Relu"));
    EXPECT_TRUE(conv1x1GemmQualifies(pointwise, pointwise.nodes[0]).isOk());
    ir::Graph gemm = node(OpKind::kGemm, {t, t, t}, {{4, 16}, {16, 8}, {8}});
    EXPECT_TRUE(matmulSupports(gemm, gemm.nodes[0]).isOk()) << matmulSupports(gemm, gemm.nodes[0]).toString();
    ir::Graph matmul = node(OpKind::kMatMul, {t, t}, {{3, 4, 16}, {16, 8}});
    EXPECT_TRUE(matmulSupports(matmul, matmul.nodes[0]).isOk());
    ir::Graph transposed = node(OpKind::kConvTranspose, {t, t, t}, {{1, 8, 5, 5}, {8, 4, 3, 3}, {4}});
    EXPECT_TRUE(convTransposeSupports(transposed, transposed.nodes[0]).isOk());
  }
}

TEST(CudaConvSupports, MixedTypesAndOtherTypesAreRefused) {
  using namespace backends::cuda;
  const auto refused = [](const Status& s, const std::string& what) {
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << what << ": " << s.toString();
    EXPECT_NE(s.message().find("node 'layer'"), std::string::npos) << s.message();
  };
  const DataType bf = DataType::kBFloat16, f32 = DataType::kFloat32;
  ir::Graph weights = node(OpKind::kConv, {bf, f32, bf}, {{2, 16, 8, 9}, {32, 16, 3, 3}, {32}});
  refused(convSupports(weights, weights.nodes[0]), "float32 weights under bfloat16 X");
  ir::Graph residual = node(OpKind::kConv, {bf, bf, bf, f32}, {{2, 8, 9, 16}, {32, 3, 3, 16}, {32}, {2, 8, 9, 32}},
                            nhwc("Relu"));
  refused(convSupports(residual, residual.nodes[0]), "float32 residual under bfloat16 X");
  ir::Graph f64 = node(OpKind::kConv, {DataType::kFloat64, DataType::kFloat64}, {{1, 4, 5, 5}, {4, 4, 3, 3}});
  refused(convSupports(f64, f64.nodes[0]), "float64 conv");
  // Graph-API-only epilogues need group 1; the legacy path fuses Relu alone.
  ir::Graph grouped = node(OpKind::kConv, {bf, bf, bf}, {{2, 8, 9, 24}, {24, 3, 3, 1}, {24}}, nhwc("HardSwish", 24));
  refused(convSupports(grouped, grouped.nodes[0]), "HardSwish on a depthwise conv");
  ir::Graph gemm = node(OpKind::kGemm, {bf, f32}, {{4, 16}, {16, 8}});
  refused(matmulSupports(gemm, gemm.nodes[0]), "float32 B under bfloat16 A");
  ir::Graph transposed = node(OpKind::kConvTranspose, {bf, bf, f32}, {{1, 8, 5, 5}, {8, 4, 3, 3}, {4}});
  refused(convTransposeSupports(transposed, transposed.nodes[0]), "float32 bias under bfloat16 X");
}

}  // namespace
}  // namespace kiln

// The fused Gemm/MatMul form (passes/fuse_gemm_epilogue.cpp) is kiln's own: an ONNX file that spells it (attribute
// activation or fused_nodes on Gemm/MatMul, or a MatMul with a third input) is refused with a message naming the
// node, rather than run as if kiln had fused it. Plain Gemm and MatMul still import.
#include <gtest/gtest.h>

#include "unit/onnx_import_helpers.h"

namespace kiln::onnx {
namespace {

using namespace testing;

ModelBuilder model(const std::string& op, const std::vector<std::string>& inputs, const std::vector<Proto>& attrs) {
  ModelBuilder m;
  m.opset = 17;
  m.inputs.push_back(valueInfo("a", kFloat, {4, 3}));
  m.outputs.push_back(valueInfo("y", kFloat, {}, /*hasShape=*/false));
  m.initializers.push_back(floatDataTensor("w", {3, 2}, std::vector<float>(6, 0.5f)));
  m.initializers.push_back(floatDataTensor("bias", {2}, {0.25f, -0.75f}));
  m.nodes.push_back(node(op, inputs, {"y"}, "fc1", attrs));
  return m;
}

void expectRefused(const ModelBuilder& m, const std::string& phrase) {
  auto g = importUnchecked(m);
  ASSERT_FALSE(g.hasValue()) << "imported a kiln-only form";
  const std::string message = g.status().message();
  EXPECT_NE(message.find(phrase), std::string::npos) << message;
  EXPECT_NE(message.find("fc1"), std::string::npos) << message;
}

TEST(OnnxReservedGemmForms, PlainGemmAndMatMulImport) {
  EXPECT_TRUE(importUnchecked(model("MatMul", {"a", "w"}, {})).hasValue());
  auto gemm = importUnchecked(model("Gemm", {"a", "w", "bias"}, {attrFloat("beta", 1.f)}));
  EXPECT_TRUE(gemm.hasValue()) << gemm.status().toString();
}

TEST(OnnxReservedGemmForms, KilnAttributesAreRefused) {
  for (const std::string op : {"Gemm", "MatMul"}) {
    SCOPED_TRACE(op);
    expectRefused(model(op, {"a", "w"}, {attrString("activation", "Relu")}), "kiln reserves it");
    expectRefused(model(op, {"a", "w"}, {attrStrings("fused_nodes", {"add"})}), "kiln reserves it");
  }
}

TEST(OnnxReservedGemmForms, MatMulWithABiasInputIsRefused) {
  expectRefused(model("MatMul", {"a", "w", "bias"}, {}), "ONNX MatMul takes 2 inputs");
  expectRefused(model("MatMul", {"a", "w", ""}, {}), "ONNX MatMul takes 2 inputs");
}

}  // namespace
}  // namespace kiln::onnx

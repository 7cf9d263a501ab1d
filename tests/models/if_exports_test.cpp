// Real torch 2.11 exports with ONNX If (committed under tests/models/if_exports/ by make_if_exports.py):
// torch.jit.script's `if x.shape[1] > 3:` through the legacy exporter (N and C dynamic), torch.cond on the batch size
// through the dynamo exporter, and a scripted `for i in range(x.shape[1] - 1)` (a Loop, unrolled). Each builds on the
// CPU with profiles that fix the dims the condition reads, so passes/inline_control_flow.cpp inlines one branch (or
// unrolls the Loop), and runs against PyTorch's float32 output at the stored inputs (several batch sizes in one context
// where the profile lets the batch vary). A profile under which the condition changes is refused with a message
// naming the node and the dim.
//
// Tolerance: |kiln - torch| <= 1e-5 * max(1, |torch|): the then/else math is one multiply-add per element, or a
// 4-term dot product (nn.Linear), in float32 on both sides; the other branch would differ by more than 0.1.
#include <gtest/gtest.h>

#include <cmath>

#include "core/npy.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"

namespace kiln {
namespace {

const std::string kDir = std::string(KILN_SOURCE_DIR) + "/tests/models/if_exports/";

Expected<std::vector<std::byte>> build(const std::string& model, const Dims& min, const Dims& opt, const Dims& max) {
  KILN_ASSIGN_OR_RETURN(Network network, parseOnnxFile(kDir + model + "/model.onnx"));
  BuilderConfig config;
  config.device = DeviceKind::kCpu;
  OptimizationProfile profile;
  profile.inputs.push_back({"x", min, opt, max});
  config.addProfile(profile);
  return buildEngine(network, config);
}

// Runs the engine at each stored shape ("4x5") in one context and compares with PyTorch's y.
void expectMatchesTorch(const std::string& model, const std::vector<std::byte>& plan,
                        const std::vector<std::string>& shapes) {
  auto engine = Engine::loadFromMemory(plan.data(), plan.size());
  ASSERT_TRUE(engine) << engine.status().toString();
  auto context = (*engine)->createContext(0);
  ASSERT_TRUE(context) << context.status().toString();
  for (const auto& shape : shapes) {
    auto x = readNpyFile(kDir + model + "/x_" + shape + ".npy");
    auto want = readNpyFile(kDir + model + "/y_" + shape + ".npy");
    ASSERT_TRUE(x && want) << "missing data for " << model << " " << shape;
    auto outputs = (*context)->infer({{"x", *x}});
    ASSERT_TRUE(outputs) << shape << ": " << outputs.status().toString();
    const Tensor& y = outputs->at("y");
    ASSERT_EQ(y.dims(), want->dims()) << shape;
    for (int64_t i = 0; i < y.elementCount(); ++i) {
      const float t = want->dataAs<float>()[i];
      EXPECT_NEAR(y.dataAs<float>()[i], t, 1e-5f * std::max(1.0f, std::fabs(t))) << model << " " << shape << " #" << i;
    }
  }
}

TEST(TorchIfExports, ScriptedShapeCheckTakesTheBranchTheProfileFixes) {
  // C = 5 > 3: the then branch (x * w[:5] + 1) for every batch 1..7.
  auto then = build("script_shape_check", {1, 5}, {4, 5}, {7, 5});
  ASSERT_TRUE(then) << then.status().toString();
  expectMatchesTorch("script_shape_check", *then, {"1x5", "4x5", "7x5"});
  // C = 3: the else branch (relu(x) - x).
  auto otherwise = build("script_shape_check", {1, 3}, {2, 3}, {6, 3});
  ASSERT_TRUE(otherwise) << otherwise.status().toString();
  expectMatchesTorch("script_shape_check", *otherwise, {"2x3", "5x3"});
}

TEST(TorchIfExports, ScriptedShapeCheckOverAVaryingDimIsRefused) {
  auto plan = build("script_shape_check", {1, 2}, {3, 4}, {7, 5});
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(plan.status().message().find("node '/If' (If): the condition '/Cast_output_0' depends on dims that vary "
                                         "within the optimization profile: dim 1 of 'x'"),
            std::string::npos)
      << plan.status().message();
}

TEST(TorchIfExports, DynamoCondOnTheBatchSize) {
  auto then = build("dynamo_cond", {6, 4}, {6, 4}, {6, 4});  // 6 > 4: linear + relu
  ASSERT_TRUE(then) << then.status().toString();
  expectMatchesTorch("dynamo_cond", *then, {"6x4"});
  auto otherwise = build("dynamo_cond", {3, 4}, {3, 4}, {3, 4});  // x * 2 - 1
  ASSERT_TRUE(otherwise) << otherwise.status().toString();
  expectMatchesTorch("dynamo_cond", *otherwise, {"3x4"});
  auto varying = build("dynamo_cond", {1, 4}, {3, 4}, {9, 4});
  ASSERT_FALSE(varying);
  EXPECT_NE(varying.status().message().find("node 'node_cond__0' (If): the condition 'gt' depends on dims that vary "
                                            "within the optimization profile: dim 0 of 'x'"),
            std::string::npos)
      << varying.status().message();
}

TEST(TorchIfExports, ScriptedLoopOverAStaticDimUnrolls) {
  // range(x.shape[1] - 1) with C = 4: three iterations, the batch free in 1..8.
  auto plan = build("script_loop", {1, 4}, {3, 4}, {8, 4});
  ASSERT_TRUE(plan) << plan.status().toString();
  expectMatchesTorch("script_loop", *plan, {"1x4", "3x4", "8x4"});
}

}  // namespace
}  // namespace kiln

// passes/select_empty_branch.cpp: an If decided by a data-dependent count (here `numel(NonZero(x > 0.5)) == 0`) with
// an empty-constant branch becomes data flow; which Ifs it takes, what it refuses, and the engine's answers on the
// CPU backend against the indices written out in a plain loop (int64, so equal exactly), the zero-count run
// included. (tests/python/test_if_data_dependent.py runs torchvision's batched_nms form against onnxruntime.)
#include <gtest/gtest.h>

#include <random>

#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "onnx/importer.h"
#include "onnx/testing/onnx_model_writer.h"
#include "passes/select_empty_branch.h"

namespace kiln {
namespace {

using namespace kiln::onnx::testing;  // NOLINT

Proto branch(const std::string& name, const std::vector<Proto>& nodes, const std::vector<Proto>& outputs) {
  Proto g;
  for (const auto& n : nodes) g.message(1, n);
  g.bytes(2, name);
  for (const auto& o : outputs) g.message(12, o);
  return g;
}

// x [N] -> y: the indices i with x[i] > 0.5, through If(numel(nz) == 0, then: empty, else: Squeeze(nz)).
// `countCondition` false: the condition reads Shape(x) instead, a profile dim and no count.
// `emptyDims`: the empty constant's dims ({0} matches the working branch's rank 1).
// `thenValues`: the then-branch constant's int64 values (then no longer empty: {1} dims with one value).
ModelBuilder indicesModel(bool countCondition = true, std::vector<int64_t> emptyDims = {0},
                          int32_t emptyType = kInt64, std::vector<int64_t> thenValues = {}) {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {"N"})};
  m.initializers = {floatDataTensor("half", {}, {0.5f}), int64DataTensor("zero", {}, {0}),
                    int64DataTensor("axis0", {1}, {0})};
  const Proto empty = emptyType == kInt64 ? int64DataTensor("empty", emptyDims, thenValues)
                                          : floatDataTensor("empty", emptyDims, {});
  Proto thenB = branch("then", {node("Constant", {}, {"empty_out"}, "empty", {attrTensor("value", empty)})},
                       {valueInfo("empty_out", emptyType, {}, false)});
  Proto elseB = branch("else", {node("Squeeze", {"nz", "axis0"}, {"indices"}, "squeeze")},
                       {valueInfo("indices", kInt64, {"M"})});
  m.nodes = {node("Greater", {"x", "half"}, {"mask"}, "mask"), node("NonZero", {"mask"}, {"nz"}, "nonzero"),
             node("Shape", {countCondition ? "nz" : "x"}, {"shape"}, "shape"),
             node("ReduceProd", {"shape"}, {"numel"}, "numel", {attrInt("keepdims", 0)}),
             node("Equal", {"numel", "zero"}, {"cond"}, "is_empty"),
             node("If", {"cond"}, {"y"}, "choose", {attrGraph("then_branch", thenB), attrGraph("else_branch", elseB)})};
  m.outputs = {valueInfo("y", kInt64, {"M"})};
  return m;
}

Expected<std::unique_ptr<ir::Graph>> import(const ModelBuilder& m) {
  const std::string bytes = m.serialize();
  return onnx::importModel(bytes.data(), bytes.size(), "");
}

// The model's engine for the CPU backend, x of 1 to 64 elements.
Expected<std::vector<std::byte>> buildForCpu(const ModelBuilder& m) {
  const std::string bytes = m.serialize();
  KILN_ASSIGN_OR_RETURN(auto network, parseOnnxBytes(bytes.data(), bytes.size()));
  BuilderConfig config;
  config.device = DeviceKind::kCpu;
  OptimizationProfile profile;
  profile.inputs.push_back({"x", {1}, {16}, {64}});
  config.addProfile(profile);
  return buildEngine(network, config);
}

TEST(SelectEmptyBranch, AnIfDecidedByACountBecomesDataFlow) {
  auto g = import(indicesModel());
  ASSERT_TRUE(g) << g.status().toString();
  auto selected = passes::selectEmptyBranches(**g);
  ASSERT_TRUE(selected) << selected.status().toString();
  EXPECT_EQ(*selected, 1);
  bool slice = false;
  for (const ir::Node& n : (*g)->nodes) {
    EXPECT_NE(n.op, ir::OpKind::kIf);
    slice = slice || (n.op == ir::OpKind::kSlice && n.name == "choose/select_0_slice");
  }
  EXPECT_TRUE(slice);
  EXPECT_EQ((*g)->valueName((*g)->outputs[0]), "y");  // the graph output keeps its name
}

TEST(SelectEmptyBranch, AnIfOnProfileDimsIsLeftForInlining) {
  auto g = import(indicesModel(/*countCondition=*/false));
  ASSERT_TRUE(g) << g.status().toString();
  auto selected = passes::selectEmptyBranches(**g);
  ASSERT_TRUE(selected) << selected.status().toString();
  EXPECT_EQ(*selected, 0);
}

TEST(SelectEmptyBranch, BranchesThatDisagreeAreRefusedNamingTheIf) {
  struct Case {
    std::vector<int64_t> dims;
    int32_t type;
    const char* message;
  };
  for (const Case& c : {Case{{0, 1}, kInt64, "node 'choose' (If): output 0 has rank 1 in else_branch but rank 2 in "
                                             "then_branch (an empty 0x1)"},
                        Case{{0}, kFloat, "node 'choose' (If): output 0 is int64 in else_branch but float32 in "
                                          "then_branch"}}) {
    auto g = import(indicesModel(true, c.dims, c.type));
    ASSERT_TRUE(g) << g.status().toString();
    auto selected = passes::selectEmptyBranches(**g);
    ASSERT_FALSE(selected);
    EXPECT_NE(selected.status().message().find(c.message), std::string::npos) << selected.status().message();
  }
}

TEST(SelectEmptyBranch, ACountDecidedIfWithoutAnEmptyBranchIsRefusedSayingSo) {
  auto plan = buildForCpu(indicesModel(true, {1}, kInt64, {7}));
  ASSERT_FALSE(plan);
  const std::string message = plan.status().message();
  EXPECT_NE(message.find("node 'choose' (If)"), std::string::npos) << message;
  EXPECT_NE(message.find("data-dependent layer"), std::string::npos) << message;
  EXPECT_EQ(message.find("vary within the optimization profile"), std::string::npos) << message;
}

TEST(SelectEmptyBranch, EngineMatchesTheIndicesAtEveryCountZeroIncluded) {
  auto plan = buildForCpu(indicesModel());
  ASSERT_TRUE(plan) << plan.status().toString();
  auto engine = Engine::loadFromMemory(plan->data(), plan->size());
  ASSERT_TRUE(engine) << engine.status().toString();
  auto context = (*engine)->createContext(0);
  ASSERT_TRUE(context) << context.status().toString();
  std::mt19937 rng(15);
  // (size, fraction above 0.5): none (the empty branch), some, all; one context, so the counts change run to run.
  for (auto [n, above] : std::vector<std::pair<int64_t, double>>{{7, 0.0}, {33, 0.4}, {1, 0.0}, {64, 1.0}, {1, 1.0},
                                                                 {17, 0.0}, {50, 0.6}}) {
    Tensor x = Tensor::allocate(DataType::kFloat32, {n}).value();
    std::bernoulli_distribution high(above);
    std::uniform_real_distribution<float> lowValue(-1.0f, 0.49f), highValue(0.51f, 2.0f);
    std::vector<int64_t> want;
    for (int64_t i = 0; i < n; ++i) {
      const bool h = high(rng);
      x.dataAs<float>()[i] = h ? highValue(rng) : lowValue(rng);
      if (h) want.push_back(i);
    }
    auto out = (*context)->infer({{"x", x}});
    ASSERT_TRUE(out) << out.status().toString();
    const Tensor& y = out->at("y");
    ASSERT_EQ(y.dtype(), DataType::kInt64);
    ASSERT_EQ(y.dims(), (Dims{static_cast<int64_t>(want.size())})) << "n " << n;
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.dataAs<int64_t>()[i], want[i]) << "n " << n << " at " << i;
  }
}

}  // namespace
}  // namespace kiln

// ONNX If: import of then/else subgraphs (outer-scope reads included) and passes/inline_control_flow.cpp, which
// inlines an If whose condition is known at build time. Models are ONNX wire bytes (onnx/testing/onnx_model_writer.h);
// every engine runs on the CPU backend on random non-zero inputs at several batch sizes, against the branch's math
// written out here in plain loops (float32 on both sides, so the tolerance is a few ulps: 1e-6 relative).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "onnx/importer.h"
#include "onnx/testing/onnx_model_writer.h"
#include "passes/inline_control_flow.h"
#include "passes/passes.h"

namespace kiln {
namespace {

using namespace kiln::onnx::testing;  // NOLINT

// GraphProto of a branch: node 1, name 2, initializer 5, output 12.
Proto branch(const std::string& name, const std::vector<Proto>& nodes, const std::vector<Proto>& outputs,
             const std::vector<Proto>& initializers = {}) {
  Proto g;
  for (const auto& n : nodes) g.message(1, n);
  g.bytes(2, name);
  for (const auto& t : initializers) g.message(5, t);
  for (const auto& o : outputs) g.message(12, o);
  return g;
}

Proto ifNode(const std::string& name, const std::string& cond, const std::vector<std::string>& outputs,
             const Proto& thenBranch, const Proto& elseBranch) {
  return node("If", {cond}, outputs, name,
              {attrGraph("then_branch", thenBranch), attrGraph("else_branch", elseBranch)});
}

Proto boolScalar(const std::string& name, bool v) { return int32DataTensor(name, kBool, {}, {v ? 1 : 0}); }

// then: y = x * w + x  (w: an outer initializer [4]);  else: y = x - 1 (a constant of its own).
std::vector<Proto> outerScopeBranches() {
  Proto thenB = branch("then", {node("Mul", {"x", "w"}, {"t0"}, "mul"), node("Add", {"t0", "x"}, {"t_out"}, "add")},
                       {valueInfo("t_out", kFloat, {}, false)});
  Proto elseB = branch("else", {node("Sub", {"x", "one"}, {"e_out"}, "sub")}, {valueInfo("e_out", kFloat, {}, false)},
                       {floatDataTensor("one", {}, {1.0f})});
  return {thenB, elseB};
}
const std::vector<float> kW = {0.5f, -1.5f, 2.0f, 3.25f};

float thenMath(float x, int64_t c) { return x * kW[c] + x; }
float elseMath(float x, int64_t) { return x - 1.0f; }

Tensor randomInput(const Dims& dims, uint32_t seed) {
  Tensor t = Tensor::allocate(DataType::kFloat32, dims).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.25f, 2.0f);
  std::bernoulli_distribution negative(0.5);
  for (int64_t i = 0; i < t.elementCount(); ++i) t.dataAs<float>()[i] = negative(rng) ? -u(rng) : u(rng);
  return t;
}

Expected<std::vector<std::byte>> build(const ModelBuilder& m, const OptimizationProfile& profile) {
  const std::string bytes = m.serialize();
  KILN_ASSIGN_OR_RETURN(Network network, parseOnnxBytes(bytes.data(), bytes.size()));
  BuilderConfig config;
  config.device = DeviceKind::kCpu;
  config.addProfile(profile);
  return buildEngine(network, config);
}

// Runs the engine at each batch size of `batches` ([N, C] inputs 'x') and checks output `out` against math(x, col).
void expectRuns(const std::vector<std::byte>& plan, int64_t columns, const std::vector<int64_t>& batches,
                float (*math)(float, int64_t), const std::string& out = "y") {
  auto engine = Engine::loadFromMemory(plan.data(), plan.size());
  ASSERT_TRUE(engine) << engine.status().toString();
  auto context = (*engine)->createContext(0);
  ASSERT_TRUE(context) << context.status().toString();
  for (int64_t n : batches) {
    const Tensor x = randomInput({n, columns}, static_cast<uint32_t>(n * 31 + columns));
    auto outputs = (*context)->infer({{"x", x}});
    ASSERT_TRUE(outputs) << outputs.status().toString();
    const Tensor& y = outputs->at(out);
    ASSERT_EQ(y.dims(), (Dims{n, columns}));
    for (int64_t i = 0; i < x.elementCount(); ++i) {
      const float want = math(x.dataAs<float>()[i], i % columns);
      EXPECT_NEAR(y.dataAs<float>()[i], want, 1e-6f * std::fabs(want) + 1e-7f) << "batch " << n << " element " << i;
    }
  }
}

OptimizationProfile batchProfile(int64_t columnsMin, int64_t columnsMax, int64_t batchMax = 7) {
  OptimizationProfile p;
  p.inputs.push_back({"x", {1, columnsMin}, {3, columnsMax}, {batchMax, columnsMax}});
  return p;
}

ModelBuilder constantConditionModel(bool cond) {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {"N", 4})};
  m.initializers = {boolScalar("cond", cond), floatDataTensor("w", {4}, kW)};
  const auto b = outerScopeBranches();
  m.nodes = {ifNode("choose", "cond", {"y"}, b[0], b[1])};
  m.outputs = {valueInfo("y", kFloat, {"N", 4})};
  return m;
}

TEST(ControlFlowImport, BranchesBecomeSubgraphsWithOuterValuesAsInputs) {
  const std::string bytes = constantConditionModel(true).serialize();
  auto g = onnx::importModel(bytes.data(), bytes.size(), "");
  ASSERT_TRUE(g) << g.status().toString();
  ASSERT_EQ((*g)->nodes.size(), 1u);
  const ir::Node& n = (*g)->nodes[0];
  EXPECT_EQ(n.op, ir::OpKind::kIf);
  ASSERT_EQ(n.subgraphs.size(), 2u);
  // cond, then the outer names either branch reads: x and w (then), x (else).
  ASSERT_EQ(n.inputs.size(), 3u);
  EXPECT_EQ((*g)->valueName(n.inputs[1]), "x");
  EXPECT_EQ((*g)->valueName(n.inputs[2]), "w");
  const ir::Graph& thenG = *n.subgraphs.at("then_branch");
  const ir::Graph& elseG = *n.subgraphs.at("else_branch");
  ASSERT_EQ(thenG.inputs.size(), 2u);
  ASSERT_EQ(elseG.inputs.size(), 2u);  // w unused there, but listed so both branches line up with the node
  EXPECT_EQ(thenG.valueName(thenG.inputs[0]), "x");
  EXPECT_EQ(thenG.nodes.size(), 2u);
  EXPECT_EQ(elseG.constants.size(), 1u);
}

TEST(ControlFlowImport, ProblemsInsideABranchNameTheIfAndTheBranch) {
  ModelBuilder m = constantConditionModel(true);
  Proto bad = branch("then",
                     {node("FooBar", {"x"}, {"t_out"}, "foo"), node("Relu", {"nowhere"}, {"r"}, "reads_nothing")},
                     {valueInfo("t_out", kFloat, {}, false)});
  m.nodes = {ifNode("choose", "cond", {"y"}, bad, outerScopeBranches()[1])};
  const std::string bytes = m.serialize();
  auto g = onnx::importModel(bytes.data(), bytes.size(), "");
  ASSERT_FALSE(g);
  const std::string msg = g.status().message();
  for (const char* expected : {"node 'choose' (If): its then_branch cannot be imported (2 problems)",
                               "node 'foo' (FooBar): unknown operator",
                               "node 'reads_nothing' (Relu): input 'nowhere' is not produced"})
    EXPECT_NE(msg.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << msg;
}

TEST(ControlFlowImport, IfWithoutItsBranchesIsInvalid) {
  ModelBuilder m = constantConditionModel(true);
  m.nodes = {node("If", {"cond"}, {"y"}, "half", {attrGraph("then_branch", outerScopeBranches()[0])})};
  const std::string bytes = m.serialize();
  auto g = onnx::importModel(bytes.data(), bytes.size(), "");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(g.status().message().find("node 'half' (If): the required attribute 'else_branch' is missing"),
            std::string::npos)
      << g.status().message();
}

TEST(InlineControlFlow, ConstantConditionInlinesTheChosenBranch) {
  for (bool cond : {true, false}) {
    const std::string bytes = constantConditionModel(cond).serialize();
    auto g = onnx::importModel(bytes.data(), bytes.size(), "");
    ASSERT_TRUE(g) << g.status().toString();
    auto inlined = passes::inlineControlFlow(**g);
    ASSERT_TRUE(inlined) << inlined.status().toString();
    EXPECT_EQ(*inlined, 1);
    ir::Graph& graph = **g;
    for (const auto& n : graph.nodes) EXPECT_NE(n.op, ir::OpKind::kIf);
    ASSERT_EQ(graph.nodes.size(), cond ? 2u : 1u);
    EXPECT_EQ(graph.nodes.back().name, cond ? "choose/add" : "choose/sub");
    EXPECT_EQ(graph.valueName(graph.outputs[0]), "y");  // the graph output keeps its name
    EXPECT_TRUE(passes::checkControlFlowResolved(graph).isOk());

    auto plan = build(constantConditionModel(cond), batchProfile(4, 4));
    ASSERT_TRUE(plan) << plan.status().toString();
    expectRuns(*plan, 4, {1, 3, 7}, cond ? &thenMath : &elseMath);
  }
}

// cond = Shape(x)[1] > 3, as torch writes `if x.shape[1] > 3:`. The dim is "C" in the model; static dims and a
// profile that fixes C (min = max) both make the condition a build-time constant.
ModelBuilder shapeConditionModel(Dim columns) {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {"N", columns})};
  m.initializers = {int64DataTensor("one_index", {}, {1}), int64DataTensor("three", {}, {3}),
                    floatDataTensor("w", {4}, kW)};
  const auto b = outerScopeBranches();
  m.nodes = {node("Shape", {"x"}, {"shape"}, "shape"), node("Gather", {"shape", "one_index"}, {"c"}, "dim1"),
             node("Greater", {"c", "three"}, {"cond"}, "check"), ifNode("choose", "cond", {"y"}, b[0], b[1])};
  m.outputs = {valueInfo("y", kFloat, {"N", columns})};
  return m;
}

TEST(InlineControlFlow, ConditionOnAStaticDim) {
  auto plan = build(shapeConditionModel(4), batchProfile(4, 4));
  ASSERT_TRUE(plan) << plan.status().toString();
  expectRuns(*plan, 4, {1, 2, 7}, &thenMath);
}

TEST(InlineControlFlow, ConditionOnADimTheProfileFixes) {
  auto then = build(shapeConditionModel("C"), batchProfile(4, 4));
  ASSERT_TRUE(then) << then.status().toString();
  expectRuns(*then, 4, {1, 5, 7}, &thenMath);
  // With C = 3 the check fails: the else branch, which works for any C.
  auto otherwise = build(shapeConditionModel("C"), batchProfile(3, 3));
  ASSERT_TRUE(otherwise) << otherwise.status().toString();
  expectRuns(*otherwise, 3, {1, 4, 7}, &elseMath);
}

TEST(InlineControlFlow, ConditionOnADimThatVariesWithinTheProfileIsRefused) {
  // C from 2 to 4: the else branch at C = 2, the then branch at C = 4.
  const std::string bytes = shapeConditionModel("C").serialize();
  auto network = parseOnnxBytes(bytes.data(), bytes.size());
  ASSERT_TRUE(network) << network.status().toString();
  BuilderConfig config;
  config.device = DeviceKind::kCpu;
  config.addProfile(batchProfile(2, 4));
  auto plan = buildEngine(*network, config);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.status().code(), StatusCode::kUnsupported);
  const std::string msg = plan.status().message();
  for (const char* expected : {"node 'choose' (If): the condition 'cond' depends on dims that vary within the "
                               "optimization profile",
                               "optimization profile: dim 1 of 'x' ?x?; kiln inlines If only where its condition is "
                               "fixed for the whole profile"})
    EXPECT_NE(msg.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << msg;
}

TEST(InlineControlFlow, ConditionOnTensorDataIsRefused) {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {"N", 4})};
  m.initializers = {floatDataTensor("zero", {}, {0.0f}), floatDataTensor("w", {4}, kW)};
  const auto b = outerScopeBranches();
  m.nodes = {node("ReduceSum", {"x"}, {"total"}, "total", {attrInt("keepdims", 0)}),
             node("Greater", {"total", "zero"}, {"positive"}, "check"),
             ifNode("by_data", "positive", {"y"}, b[0], b[1])};
  m.outputs = {valueInfo("y", kFloat, {"N", 4})};
  auto plan = build(m, batchProfile(4, 4));
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(plan.status().message().find("node 'by_data' (If): the condition 'positive' depends on tensor data, not "
                                         "only on shapes"),
            std::string::npos)
      << plan.status().message();
}

// An If inside the then branch, deciding on Shape(x)[1] > 3 of the outermost x, both of its branches reading outer
// values two scopes up (x, w) and one up (a value the outer then branch computed). Outputs: y and the inner's z.
ModelBuilder nestedModel(Dim columns, bool outerCond) {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {"N", columns})};
  m.initializers = {boolScalar("outer_cond", outerCond), int64DataTensor("one_index", {}, {1}),
                    int64DataTensor("three", {}, {3}), floatDataTensor("w", {4}, kW)};
  // inner then: z = x * w + x (the shared math); inner else: z = x - 1.
  const auto inner = outerScopeBranches();
  Proto outerThen = branch(
      "outer_then",
      {node("Shape", {"x"}, {"s"}, "shape"), node("Gather", {"s", "one_index"}, {"c"}, "dim1"),
       node("Greater", {"c", "three"}, {"inner_cond"}, "check"),
       ifNode("inner", "inner_cond", {"z"}, inner[0], inner[1]),
       node("Identity", {"z"}, {"then_y"}, "copy")},
      {valueInfo("then_y", kFloat, {}, false), valueInfo("z", kFloat, {}, false)});
  Proto outerElse = branch("outer_else", {node("Neg", {"x"}, {"neg"}, "neg"), node("Neg", {"neg"}, {"again"}, "neg2")},
                           {valueInfo("neg", kFloat, {}, false), valueInfo("again", kFloat, {}, false)});
  m.nodes = {ifNode("outer", "outer_cond", {"y", "z_out"}, outerThen, outerElse)};
  m.outputs = {valueInfo("y", kFloat, {"N", columns}), valueInfo("z_out", kFloat, {"N", columns})};
  return m;
}

float negMath(float x, int64_t) { return -x; }
float identityMath(float x, int64_t) { return x; }

TEST(InlineControlFlow, NestedIfReadsValuesFromEveryEnclosingScope) {
  {
    auto plan = build(nestedModel(4, true), batchProfile(4, 4));  // inner: C = 4 > 3, its then branch
    ASSERT_TRUE(plan) << plan.status().toString();
    expectRuns(*plan, 4, {1, 3, 7}, &thenMath, "y");
    expectRuns(*plan, 4, {2}, &thenMath, "z_out");
  }
  {
    auto plan = build(nestedModel("C", true), batchProfile(3, 3));  // C fixed at 3 by the profile: inner else
    ASSERT_TRUE(plan) << plan.status().toString();
    expectRuns(*plan, 3, {1, 6}, &elseMath, "y");
    expectRuns(*plan, 3, {5}, &elseMath, "z_out");
  }
  {
    auto plan = build(nestedModel(4, false), batchProfile(4, 4));
    ASSERT_TRUE(plan) << plan.status().toString();
    expectRuns(*plan, 4, {1, 7}, &negMath, "y");
    expectRuns(*plan, 4, {3}, &identityMath, "z_out");
  }
}

TEST(InlineControlFlow, BranchOutputThatIsAnOuterValueOrAConstant) {
  // then: y = x itself (an outer value), k = a branch constant; else: y = Relu(x), k = another constant.
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {"N", 4})};
  m.initializers = {boolScalar("cond", true)};
  Proto thenB = branch("then", {}, {valueInfo("x", kFloat, {}, false), valueInfo("k_then", kFloat, {}, false)},
                       {floatDataTensor("k_then", {1}, {2.5f})});
  Proto elseB = branch("else", {node("Relu", {"x"}, {"r"}, "relu")},
                       {valueInfo("r", kFloat, {}, false), valueInfo("k_else", kFloat, {}, false)},
                       {floatDataTensor("k_else", {1}, {-1.0f})});
  m.nodes = {ifNode("choose", "cond", {"y", "k"}, thenB, elseB), node("Mul", {"y", "k"}, {"scaled"}, "scale")};
  m.outputs = {valueInfo("y", kFloat, {"N", 4}), valueInfo("scaled", kFloat, {"N", 4})};
  auto plan = build(m, batchProfile(4, 4));
  ASSERT_TRUE(plan) << plan.status().toString();
  expectRuns(*plan, 4, {1, 3}, &identityMath, "y");
  expectRuns(*plan, 4, {5}, [](float x, int64_t) { return x * 2.5f; }, "scaled");
}

// Loop(M, cond) with body (i, cond_in, acc) -> (cond_in, acc * w + x * i, the same as a scan output), as torch writes
// `for i in range(M)`; acc starts at x. `computedCondition` makes the body's condition output i < 2 instead;
// `tripCountFromData` makes M int64(max(x)) instead of the constant `tripCount`.
ModelBuilder loopModel(int64_t tripCount, bool computedCondition = false, bool tripCountFromData = false) {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {"N", 4})};
  m.initializers = {floatDataTensor("w", {4}, kW), int64DataTensor("two", {}, {2})};
  if (!tripCountFromData) m.initializers.push_back(int64DataTensor("M", {}, {tripCount}));
  std::vector<Proto> nodes = {node("Cast", {"i"}, {"i_float"}, "to_float", {attrInt("to", kFloat)}),
                              node("Mul", {"acc_in", "w"}, {"scaled"}, "scale"),
                              node("Mul", {"x", "i_float"}, {"step"}, "step"),
                              node("Add", {"scaled", "step"}, {"acc_out"}, "accumulate"),
                              node("Identity", {"acc_out"}, {"row"}, "row")};
  nodes.push_back(computedCondition ? node("Less", {"i", "two"}, {"cond_out"}, "keep_going")
                                    : node("Identity", {"cond_in"}, {"cond_out"}, "keep_going"));
  Proto body;
  for (const auto& n : nodes) body.message(1, n);
  body.bytes(2, "body");
  for (const auto& in :
       {valueInfo("i", kInt64, {}), valueInfo("cond_in", kBool, {}), valueInfo("acc_in", kFloat, {}, false)})
    body.message(11, in);
  for (const auto& out : {valueInfo("cond_out", kBool, {}), valueInfo("acc_out", kFloat, {}, false),
                          valueInfo("row", kFloat, {}, false)})
    body.message(12, out);
  std::vector<Proto> pre;
  if (tripCountFromData) {
    pre.push_back(node("ReduceMax", {"x"}, {"top"}, "top", {attrInt("keepdims", 0)}));
    pre.push_back(node("Cast", {"top"}, {"M"}, "trips", {attrInt("to", kInt64)}));
  }
  m.nodes = pre;
  m.nodes.push_back(node("Loop", {"M", "", "x"}, {"acc", "rows"}, "repeat", {attrGraph("body", body)}));
  m.outputs = {valueInfo("acc", kFloat, {"N", 4}), valueInfo("rows", kFloat, {tripCount, "N", 4})};
  return m;
}

TEST(InlineControlFlow, LoopWithAConstantTripCountUnrolls) {
  for (int64_t trips : {1, 3}) {
    auto plan = build(loopModel(trips), batchProfile(4, 4));
    ASSERT_TRUE(plan) << plan.status().toString();
    auto engine = Engine::loadFromMemory(plan->data(), plan->size());
    ASSERT_TRUE(engine) << engine.status().toString();
    auto context = (*engine)->createContext(0);
    ASSERT_TRUE(context);
    for (int64_t n : {1, 5}) {
      const Tensor x = randomInput({n, 4}, static_cast<uint32_t>(n + 100 * trips));
      auto outputs = (*context)->infer({{"x", x}});
      ASSERT_TRUE(outputs) << outputs.status().toString();
      const Tensor& acc = outputs->at("acc");
      const Tensor& rows = outputs->at("rows");
      ASSERT_EQ(acc.dims(), (Dims{n, 4}));
      ASSERT_EQ(rows.dims(), (Dims{trips, n, 4}));
      for (int64_t e = 0; e < n * 4; ++e) {
        const float xe = x.dataAs<float>()[e];
        float want = xe;
        for (int64_t i = 0; i < trips; ++i) {
          want = want * kW[e % 4] + xe * static_cast<float>(i);
          EXPECT_NEAR(rows.dataAs<float>()[i * n * 4 + e], want, 1e-5f * std::fabs(want) + 1e-6f) << "row " << i;
        }
        EXPECT_NEAR(acc.dataAs<float>()[e], want, 1e-5f * std::fabs(want) + 1e-6f) << "trips " << trips;
      }
    }
  }
}

TEST(InlineControlFlow, LoopsKilnCannotUnrollAreRefused) {
  struct Case {
    ModelBuilder model;
    std::string message;
  };
  const std::vector<Case> cases = {
      {loopModel(3, /*computedCondition=*/true),
       "node 'repeat' (Loop): the body computes its condition output 'cond_out'; kiln unrolls a Loop only when it "
       "runs all its iterations"},
      {loopModel(65), "node 'repeat' (Loop): the trip count is 65; kiln unrolls Loops of at most 64 iterations"},
      {loopModel(3, false, /*tripCountFromData=*/true),
       "node 'repeat' (Loop): input 'M' depends on tensor data, not only on shapes"},
  };
  for (const auto& c : cases) {
    auto plan = build(c.model, batchProfile(4, 4));
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(plan.status().message().find(c.message), std::string::npos)
        << "missing '" << c.message << "' in:\n" << plan.status().message();
  }
}

}  // namespace
}  // namespace kiln

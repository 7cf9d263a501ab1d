// FusedElementwise (kiln issue 4): the fusion pass's node structure, the CPU kernel against an independent float64
// evaluation of the original ops and against the unfused graph, hostile programs (graph and engine file), and that
// ONNX files cannot name the op.
// Tolerances: fused vs unfused float32 on the CPU: 1e-6 relative (+1e-7 absolute); float32 vs the float64
// reference: 1e-5 relative (+1e-6 absolute; 3e-5 for the 26-op chain); float16 (inputs rounded to half for both,
// float32 math inside): 2e-3 relative (+1e-4 absolute), about two half ulps.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "backends/cpu/cpu_kernels.h"
#include "engine/engine_file.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "onnx/testing/onnx_model_writer.h"
#include "ops/fused_elementwise_program.h"
#include "ops/shape_inference.h"
#include "passes/passes.h"
#include "unit/fused_elementwise_graphs.h"

namespace kiln {
namespace {

using namespace fusedtest;

int count(const ir::Graph& g, OpKind op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const ir::Node& n) { return n.op == op; }));
}

const ir::Node* fusedNode(const ir::Graph& g, size_t which = 0) {
  for (const auto& n : g.nodes)
    if (n.op == OpKind::kFusedElementwise && which-- == 0) return &n;
  return nullptr;
}

class FuseElementwise : public ::testing::Test {
 protected:
  void SetUp() override { cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value()); }

  /// Annotates, runs before the pass, fuses (expecting `groups`), runs after; compares both with the float64
  /// reference and with each other. Returns the fused graph for structural checks.
  ir::Graph fuseAndCompare(GraphBuilder b, int groups, double refRtol = 1e-5,
                           const std::map<std::string, std::pair<double, double>>& ranges = {}) {
    ir::Graph g = std::move(b.g);
    const Status annotated = annotate(g);
    EXPECT_TRUE(annotated.isOk()) << annotated.toString();
    const auto inputs = randomInputs(g, 1234, ranges);
    // The unfused float16 graph is not run: some single-op CPU kernels (Clip) have no float16 form.
    const bool half = g.values[g.outputs[0]].dtype == DataType::kFloat16;
    auto before = half ? Expected<std::map<std::string, Tensor>>(std::map<std::string, Tensor>{}) : runGraph(*cpu_, g, inputs);
    EXPECT_TRUE(before.hasValue()) << before.status().toString();
    const auto reference = evaluateReference(g, inputs);
    auto fused = passes::fuseElementwiseChains(g);
    EXPECT_TRUE(fused.hasValue()) << fused.status().toString();
    if (fused.hasValue()) EXPECT_EQ(*fused, groups);
    EXPECT_TRUE(annotate(g).isOk());
    auto after = runGraph(*cpu_, g, inputs);
    EXPECT_TRUE(after.hasValue()) << after.status().toString();
    if (!before.hasValue() || !after.hasValue()) return g;
    for (const auto& [name, want] : reference) {
      if (half) {
        EXPECT_EQ(expectClose(after->at(name), want, 2e-3, 1e-4, name + " fused fp16 vs float64"), 0);
      } else {
        EXPECT_EQ(expectClose(before->at(name), want, refRtol, 1e-6, name + " unfused vs float64"), 0);
        EXPECT_EQ(expectClose(after->at(name), want, refRtol, 1e-6, name + " fused vs float64"), 0);
        EXPECT_EQ(expectClose(after->at(name), toRef(before->at(name)), 1e-6, 1e-7, name + " fused vs unfused"), 0);
      }
    }
    return g;
  }

  std::unique_ptr<backends::Backend> cpu_;
};

TEST_F(FuseElementwise, GeluDecompositionBecomesOneNode) {
  for (Dims dims : {Dims{3, 17, 33}, Dims{1}, Dims{2, 1000}}) {
    SCOPED_TRACE(dimsToString(dims));
    ir::Graph g = fuseAndCompare(geluDecomposition(DataType::kFloat32, dims), 1);
    ASSERT_EQ(g.nodes.size(), 1u);
    const ir::Node& n = g.nodes[0];
    EXPECT_EQ(n.op, OpKind::kFusedElementwise);
    EXPECT_EQ(n.name, "gelu_half");
    EXPECT_EQ(n.attrs.getStrings("fused_nodes"),
              (std::vector<std::string>{"gelu_div", "gelu_erf", "gelu_add", "gelu_mul", "gelu_half"}));
    ASSERT_EQ(n.inputs.size(), 1u) << "the scalar constants become immediates";
    EXPECT_EQ(g.values[n.inputs[0]].name, "x");
    EXPECT_EQ(n.outputs[0], g.outputs[0]);
    auto program = ops::parseFusedProgram(g, n);
    ASSERT_TRUE(program.hasValue()) << program.status().toString();
    EXPECT_EQ(program->code.size(), 5u);
    EXPECT_EQ(program->immediates.size(), 3u);
    EXPECT_TRUE(g.constants.empty()) << "the folded scalars are dead";
  }
}

TEST_F(FuseElementwise, SiluAndBiasReluAndBroadcastInputs) {
  {
    ir::Graph g = fuseAndCompare(silu(DataType::kFloat32, {7, 9, 11}), 1);
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].inputs.size(), 1u) << "x feeds both Sigmoid and Mul through one register";
  }
  {
    ir::Graph g = fuseAndCompare(biasRelu(DataType::kFloat32, {4, 6, 13}), 1);
    ASSERT_EQ(g.nodes.size(), 1u);
    ASSERT_EQ(g.nodes[0].inputs.size(), 2u) << "the [C] bias stays a tensor input";
    EXPECT_TRUE(g.isConstant(g.nodes[0].inputs[1]));
    EXPECT_EQ(g.values[g.outputs[0]].dims, (Dims{4, 6, 13}));
  }
  {
    ir::Graph g = fuseAndCompare(broadcastInputs(DataType::kFloat32), 1);
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].inputs.size(), 3u);
    EXPECT_EQ(g.values[g.outputs[0]].dims, (Dims{5, 3, 7}));
  }
}

TEST_F(FuseElementwise, EveryOpcodeInOneChain) {
  ir::Graph g = fuseAndCompare(activationZoo(DataType::kFloat32, {6, 35}), 1, 3e-5, {{"y", {2, 5}}});
  ASSERT_EQ(g.nodes.size(), 1u);
  auto program = ops::parseFusedProgram(g, g.nodes[0]);
  ASSERT_TRUE(program.hasValue()) << program.status().toString();
  EXPECT_EQ(program->code.size(), 26u);
  std::vector<bool> seen(ops::kFusedOpcodeCount, false);
  for (const auto& in : program->code) seen[static_cast<size_t>(in.op)] = true;
  for (int op = 0; op < ops::kFusedOpcodeCount; ++op)
    EXPECT_TRUE(seen[op]) << "opcode " << ops::fusedOpcodeName(static_cast<ops::FusedOpcode>(op)) << " not exercised";
}

TEST_F(FuseElementwise, EachOpAgainstFloat64) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16})
    for (const SingleOpCase& c : singleOpCases()) {
      SCOPED_TRACE(c.label + " " + dataTypeName(t));
      const int ops = t == DataType::kFloat16 && c.op == OpKind::kClip ? 3 : 2;  // Max+Min in float16
      ir::Graph g = fuseAndCompare(singleOpChain(t, {5, 67}, c), 1, 1e-5, {{"x", c.range}, {"y", c.range}});
      ASSERT_EQ(g.nodes.size(), 1u);
      EXPECT_EQ(g.nodes[0].attrs.getStrings("fused_nodes").size(), size_t(ops));
    }
}

TEST_F(FuseElementwise, Float16ComputesInFloat32) {
  fuseAndCompare(geluDecomposition(DataType::kFloat16, {5, 129}), 1);
  fuseAndCompare(broadcastInputs(DataType::kFloat16), 1);
  ir::Graph g = fuseAndCompare(activationZoo(DataType::kFloat16, {3, 19}), 1, 0, {{"y", {2, 5}}});
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.values[g.outputs[0]].dtype, DataType::kFloat16);
}

TEST_F(FuseElementwise, IntermediateReadOutsideStopsTheGroup) {
  // e = exp(x) is read by the chain and by a Neg outside it: e must stay materialized.
  GraphBuilder b;
  const ValueId x = b.input("x", {3, 31});
  const ValueId e = b.op(OpKind::kExp, {x}, {}, "exp");
  b.output(b.op(OpKind::kRelu, {b.op(OpKind::kMul, {e, b.scalar(2.0)}, {}, "mul")}, {}, "relu"));
  b.output(b.op(OpKind::kNeg, {e}, {}, "neg"));
  ir::Graph g = fuseAndCompare(std::move(b), 1);
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(count(g, OpKind::kExp), 1);
  EXPECT_EQ(count(g, OpKind::kNeg), 1);
  const ir::Node* f = fusedNode(g);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->attrs.getStrings("fused_nodes"), (std::vector<std::string>{"mul", "relu"}));
  ASSERT_EQ(f->inputs.size(), 1u);
  EXPECT_EQ(g.values[f->inputs[0]].name, "exp_out");
}

TEST_F(FuseElementwise, IntermediateGraphOutputIsNotFusedAway) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 3, 5});
  const ValueId s = b.op(OpKind::kSigmoid, {x}, {}, "sig");
  b.output(s);
  b.output(b.op(OpKind::kTanh, {b.op(OpKind::kMul, {s, x}, {}, "mul")}, {}, "tanh"));
  ir::Graph g = fuseAndCompare(std::move(b), 1);
  EXPECT_EQ(count(g, OpKind::kSigmoid), 1);
  const ir::Node* f = fusedNode(g);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->attrs.getStrings("fused_nodes"), (std::vector<std::string>{"mul", "tanh"}));
}

TEST_F(FuseElementwise, SingleOpsAndNonFloatOpsStayAlone) {
  {
    GraphBuilder b;
    b.output(b.op(OpKind::kRelu, {b.input("x", {4})}));
    ir::Graph g = fuseAndCompare(std::move(b), 0);
    EXPECT_EQ(count(g, OpKind::kRelu), 1);
  }
  {
    GraphBuilder b{.dtype = DataType::kInt64};
    const ValueId x = b.input("x", {4});
    b.output(b.op(OpKind::kAbs, {b.op(OpKind::kAdd, {x, x})}));
    ir::Graph g = std::move(b.g);
    ASSERT_TRUE(annotate(g).isOk());
    auto fused = passes::fuseElementwiseChains(g);
    ASSERT_TRUE(fused.hasValue());
    EXPECT_EQ(*fused, 0) << "integer ops are not fused";
  }
}

TEST_F(FuseElementwise, HostShapeArithmeticIsLeftToTheShapeProgram) {
  // float(shape(x)) * 2 + 1: the host shape program evaluates it; fusing it would move it to the device.
  GraphBuilder b;
  const ValueId x = b.input("x", {3, 4});
  const ValueId dims = b.op(OpKind::kShape, {x}, {}, "shape");
  b.g.values[dims].dtype = DataType::kInt64;
  const ValueId asFloat = b.op(OpKind::kCast, {dims}, attrs({{"to", int64_t(1)}}), "cast");
  const ValueId y = b.op(OpKind::kAdd, {b.op(OpKind::kMul, {asFloat, b.scalar(2.0)}), b.scalar(1.0)});
  b.output(b.op(OpKind::kSigmoid, {b.op(OpKind::kRelu, {x})}));
  b.output(y);
  ir::Graph g = std::move(b.g);
  ASSERT_TRUE(annotate(g).isOk());
  auto fused = passes::fuseElementwiseChains(g);
  ASSERT_TRUE(fused.hasValue()) << fused.status().toString();
  EXPECT_EQ(*fused, 1) << "only Relu -> Sigmoid on the tensor";
  EXPECT_EQ(count(g, OpKind::kMul), 1);
  EXPECT_EQ(count(g, OpKind::kAdd), 1);
}

TEST_F(FuseElementwise, LongChainsAndManyInputsAreSplit) {
  {
    ir::Graph g = fuseAndCompare(longChain(DataType::kFloat32, {3, 41}, 40), 2);
    ASSERT_EQ(g.nodes.size(), 2u);
    for (const auto& n : g.nodes) {
      ASSERT_EQ(n.op, OpKind::kFusedElementwise);
      EXPECT_LE(n.attrs.getInts("program").size(), size_t(3 * ops::kMaxFusedInstructions));
    }
  }
  {
    ir::Graph g = fuseAndCompare(manyInputs(DataType::kFloat32, {2, 9}, 11), 2);
    for (const auto& n : g.nodes) EXPECT_LE(n.inputs.size(), size_t(ops::kMaxFusedInputs));
  }
}

TEST_F(FuseElementwise, ScalarConstantsThatRaiseTheRankStayTensors) {
  // x[5] * c[1,1] is [1,5]: c cannot become an immediate without changing the output's rank.
  GraphBuilder b;
  const ValueId x = b.input("x", {5});
  b.output(b.op(OpKind::kRelu, {b.op(OpKind::kMul, {x, b.constant({3.0}, {1, 1})})}));
  ir::Graph g = fuseAndCompare(std::move(b), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].inputs.size(), 2u);
  EXPECT_EQ(g.values[g.outputs[0]].dims, (Dims{1, 5}));
}

// ---- hostile programs

/// A one-node graph: FusedElementwise over `inputs` float32 inputs of dims [4, 3] with these attributes.
ir::Graph hostileGraph(const std::vector<int64_t>& program, const std::vector<float>& immediates, int inputs = 1,
                       DataType dtype = DataType::kFloat32) {
  GraphBuilder b{.dtype = dtype};
  std::vector<ValueId> ins;
  for (int i = 0; i < inputs; ++i) ins.push_back(b.input("x" + std::to_string(i), {4, 3}));
  const ValueId y = b.op(OpKind::kFusedElementwise, ins,
                         attrs({{"program", program}, {"immediates", immediates}}), "evil");
  b.output(y);
  return std::move(b.g);
}

std::vector<ops::TensorInfo> infos(const ir::Graph& g) {
  std::vector<ops::TensorInfo> r;
  for (ValueId in : g.nodes[0].inputs) r.push_back({g.values[in].dtype, g.values[in].dims, nullptr});
  return r;
}

TEST_F(FuseElementwise, HostileProgramsAreErrorsNamingTheNode) {
  using V = std::vector<int64_t>;
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  struct Bad {
    const char* what;
    ir::Graph g;
    const char* expected;
  };
  std::vector<Bad> cases;
  cases.push_back({"unknown opcode", hostileGraph({99, 0, 0}, {}), "opcode 99"});
  cases.push_back({"negative opcode", hostileGraph({-1, 0, 0}, {}), "opcode -1"});
  cases.push_back({"register not yet written", hostileGraph({7, 1, 0}, {}), "reads register 1"});
  cases.push_back({"register far away", hostileGraph({0, 0, 1000000}, {}), "reads register 1000000"});
  cases.push_back({"immediate out of range", hostileGraph({2, 0, -2}, {0.5f}), "reads immediate 1"});
  cases.push_back({"most negative operand", hostileGraph({2, 0, kMin}, {0.5f}), "reads immediate"});
  cases.push_back({"clip with one parameter", hostileGraph({24, 0, -1}, {0.5f}), "needs 2 parameter"});
  cases.push_back({"parameter at most negative b", hostileGraph({21, 0, kMin}, {0.5f}), "needs 1 parameter"});
  cases.push_back({"parameter from a register", hostileGraph({21, 0, 0}, {0.5f}), "needs 1 parameter"});
  cases.push_back({"unary with b", hostileGraph({7, 0, 3}, {}), "must be 0"});
  cases.push_back({"ragged program", hostileGraph({7, 0}, {}), "3 ints per instruction"});
  cases.push_back({"empty program", hostileGraph({}, {}), "3 ints per instruction"});
  V tooLong;
  for (int i = 0; i < 33; ++i) tooLong.insert(tooLong.end(), {7, i, 0});
  cases.push_back({"too many instructions", hostileGraph(tooLong, {}), "at most 32"});
  cases.push_back({"too many immediates", hostileGraph({7, 0, 0}, std::vector<float>(65, 1.f)), "at most 64"});
  cases.push_back({"too many inputs", hostileGraph({0, 0, 1}, {}, 9), "1 to 8 inputs"});
  cases.push_back({"integer inputs", hostileGraph({7, 0, 0}, {}, 1, DataType::kInt64), "float32 or float16"});
  {
    ir::Graph g = hostileGraph({7, 0, 0}, {});
    g.nodes[0].attrs.set("program", std::vector<float>{7, 0, 0});
    cases.push_back({"program of floats", std::move(g), "must be a list of ints"});
  }
  {
    ir::Graph g = hostileGraph({7, 0, 0}, {});
    g.nodes[0].attrs.erase("program");
    cases.push_back({"no program", std::move(g), "'program' is required"});
  }
  {
    ir::Graph g = hostileGraph({7, 0, 0}, {});
    g.nodes[0].attrs.set("immediates", std::string("1.0"));
    cases.push_back({"immediates of another kind", std::move(g), "'immediates' must be a list of floats"});
  }
  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    const auto in = infos(c.g);
    auto out = ops::inferOutputs(c.g, c.g.nodes[0], in);
    ASSERT_FALSE(out.hasValue());
    EXPECT_NE(out.status().message().find("node 'evil' (FusedElementwise)"), std::string::npos)
        << out.status().message();
    EXPECT_NE(out.status().message().find(c.expected), std::string::npos) << out.status().message();
    // The CPU kernel validates on its own too (it may be reached without shape inference).
    std::vector<double> buffer(12, 1.0);  // big enough for 12 elements of any input dtype here
    std::vector<float> result(12);
    std::vector<backends::DeviceTensor> ins;
    for (ValueId v : c.g.nodes[0].inputs) ins.push_back({c.g.values[v].dtype, {4, 3}, buffer.data()});
    const backends::DeviceTensor o{DataType::kFloat32, {4, 3}, result.data()};
    EXPECT_FALSE(backends::cpu::executeNode(c.g, c.g.nodes[0], ins, std::span(&o, 1)).isOk());
  }
}

engine::EngineModel cpuEngine(ir::Graph g) {
  engine::EngineModel m;
  m.graph = std::move(g);
  m.device = DeviceKind::kCpu;
  m.tactics.assign(m.graph.nodes.size(), "");
  OptimizationProfile p;
  for (ValueId in : m.graph.inputs) {
    const Dims& d = m.graph.values[in].dims;
    p.inputs.push_back({m.graph.values[in].name, d, d, d});
  }
  m.profiles.push_back(p);
  return m;
}

TEST_F(FuseElementwise, EngineFileRoundTripsTheProgram) {
  GraphBuilder b = broadcastInputs(DataType::kFloat32);
  ir::Graph g = std::move(b.g);
  ASSERT_TRUE(annotate(g).isOk());
  const auto inputs = randomInputs(g, 77);
  const auto reference = evaluateReference(g, inputs);
  ASSERT_EQ(*passes::fuseElementwiseChains(g), 1);
  ASSERT_TRUE(annotate(g).isOk());
  const ir::Attributes original = fusedNode(g)->attrs;
  auto bytes = engine::writeEngine(cpuEngine(g));
  ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
  auto model = engine::readEngine(bytes->data(), bytes->size());
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  const ir::Node* back = fusedNode(model->graph);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->attrs.getInts("program"), original.getInts("program"));
  EXPECT_EQ(back->attrs.getFloats("immediates"), original.getFloats("immediates"));
  EXPECT_EQ(back->attrs.getStrings("fused_nodes"), original.getStrings("fused_nodes"));

  auto engine = Engine::loadFromMemory(bytes->data(), bytes->size());
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto context = (*engine)->createContext();
  ASSERT_TRUE(context.hasValue()) << context.status().toString();
  auto outputs = (*context)->infer(inputs);
  ASSERT_TRUE(outputs.hasValue()) << outputs.status().toString();
  for (const auto& [name, want] : reference)
    EXPECT_EQ(expectClose(outputs->at(name), want, 1e-5, 1e-6, name + " from the engine file"), 0);
}

TEST_F(FuseElementwise, HostileEngineFileIsRefusedWhenShapesResolve) {
  ir::Graph g = hostileGraph({2, 0, -5}, {1.0f});  // Mul reading immediate 4 of 1
  auto bytes = engine::writeEngine(cpuEngine(g));
  ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();  // the file format stores attributes generically
  auto engine = Engine::loadFromMemory(bytes->data(), bytes->size());
  Status failure = engine.hasValue() ? Status::ok() : engine.status();
  if (engine.hasValue()) {
    auto context = (*engine)->createContext();
    ASSERT_FALSE(context.hasValue());
    failure = context.status();
  }
  EXPECT_NE(failure.message().find("node 'evil' (FusedElementwise)"), std::string::npos) << failure.message();
  EXPECT_NE(failure.message().find("reads immediate 4"), std::string::npos) << failure.message();
}

TEST(FusedElementwiseImport, OnnxFilesCannotNameTheOp) {
  using namespace onnx::testing;
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {2, 3}));
  m.nodes = {node("FusedElementwise", {"x"}, {"y"}, "sneaky", {attrInts("program", {7, 0, 0})})};
  m.outputs = {valueInfo("y", kFloat, {2, 3})};
  const std::string bytes = m.serialize();
  auto net = parseOnnxBytes(bytes.data(), bytes.size());
  ASSERT_FALSE(net.hasValue());
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported) << net.status().message();
  EXPECT_NE(net.status().message().find("node 'sneaky' (FusedElementwise): unknown operator"), std::string::npos)
      << net.status().message();
}

}  // namespace
}  // namespace kiln

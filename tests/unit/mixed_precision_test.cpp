// Per-layer mixed precision on the CPU backend (which runs float16/bfloat16 nodes through float32 staging): the
// precision pass's casts and constant types, the planner's fallback and pins, and the accuracy guard's promotions.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "backends/backend.h"
#include "builder/accuracy_guard.h"
#include "builder/precision_plan.h"
#include "builder/shape_annotation.h"
#include "core/half.h"
#include "core/npy.h"
#include "engine/engine_file.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "passes/passes.h"

namespace kiln {
namespace {

using ir::OpKind;

ir::ValueId node(ir::Graph& g, OpKind op, const std::string& name, std::vector<ir::ValueId> inputs) {
  ir::Node n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  const ir::ValueId out = g.addValue(name + "_out");
  n.outputs = {out};
  g.nodes.push_back(std::move(n));
  return out;
}

ir::ValueId constant(ir::Graph& g, const std::string& name, std::vector<float> values) {
  Tensor t = Tensor::allocate(DataType::kFloat32, {static_cast<int64_t>(values.size())}).value();
  for (size_t i = 0; i < values.size(); ++i) t.dataAs<float>()[i] = values[i];
  return g.addConstant(name, std::move(t));
}

/// The graph input 'x' [B, 4], float32.
ir::ValueId floatInput(ir::Graph& g) {
  const ir::ValueId x = g.addValue("x", DataType::kFloat32);
  g.values[x].rankKnown = true;
  g.values[x].dims = {kDynamicDim, 4};
  g.inputs = {x};
  return x;
}

size_t nodeIndex(const ir::Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == name) return i;
  ADD_FAILURE() << "no node " << name;
  return 0;
}

/// x[B,4] -> mul = x*w (w shared with add) -> add = mul+w -> relu -> y, plus an integer side path (Shape of x).
struct SmallNet {
  ir::Graph g;
  ir::ValueId x, w, mul, add, y;
  std::vector<OptimizationProfile> profiles;
  SmallNet(float scale = 1.f) {
    x = floatInput(g);
    w = constant(g, "w", {0.5f * scale, -1.25f * scale, 2.f * scale, 0.75f * scale});
    mul = node(g, OpKind::kMul, "mul", {x, w});
    add = node(g, OpKind::kAdd, "add", {mul, w});
    y = node(g, OpKind::kRelu, "relu", {add});
    g.outputs = {y};
    EXPECT_TRUE(g.topologicalSort().isOk());
    profiles = {OptimizationProfile{{{"x", {1, 4}, {3, 4}, {5, 4}}}}};
    EXPECT_TRUE(builder::annotateShapes(g, profiles).isOk());
  }
  size_t index(const std::string& name) const { return nodeIndex(g, name); }
};

int countOps(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const ir::Node& node : g.nodes) n += node.op == op ? 1 : 0;
  return n;
}

std::map<std::string, Tensor> run(const ir::Graph& graph, const std::vector<OptimizationProfile>& profiles,
                                  const Tensor& x) {
  engine::EngineModel model;
  model.graph = graph;
  model.profiles = profiles;
  model.device = DeviceKind::kCpu;
  model.tactics.resize(graph.nodes.size());
  auto bytes = engine::writeEngine(model);
  EXPECT_TRUE(bytes.hasValue()) << bytes.status().toString();
  auto engine = Engine::loadFromMemory(bytes->data(), bytes->size());
  EXPECT_TRUE(engine.hasValue()) << engine.status().toString();
  auto ctx = (*engine)->createContext(0);
  EXPECT_TRUE(ctx.hasValue());
  auto out = (*ctx)->infer({{"x", x}});
  EXPECT_TRUE(out.hasValue()) << out.status().toString();
  return *out;
}

Tensor randomX(int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.5f, 2.f);
  Tensor t = Tensor::allocate(DataType::kFloat32, {batch, 4}).value();
  for (int64_t i = 0; i < t.elementCount(); ++i) t.dataAs<float>()[i] = (rng() % 2 ? 1 : -1) * u(rng);
  return t;
}

TEST(MixedPrecision, CastsJoinNarrowAndFloat32NodesAndConstantsFollowTheirReader) {
  SmallNet net;
  std::vector<bool> narrow(net.g.nodes.size(), false);
  narrow[net.index("mul")] = true;   // reads x (graph input) and w
  narrow[net.index("relu")] = true;  // produces the graph output
  auto mixed = passes::applyPrecision(net.g, DataType::kFloat16, narrow);
  ASSERT_TRUE(mixed.hasValue()) << mixed.status().toString();
  const ir::Graph& m = mixed->graph;
  // x -> fp16 for mul; mul -> fp32 for add; add -> fp16 for relu; relu's twin -> fp32 for the output.
  EXPECT_EQ(countOps(m, OpKind::kCast), 4);
  const ir::Node& mul = m.nodes[mixed->nodeOf[net.index("mul")]];
  const ir::Node& add = m.nodes[mixed->nodeOf[net.index("add")]];
  ASSERT_TRUE(m.isConstant(mul.inputs[1]));
  EXPECT_EQ(m.constantOf(mul.inputs[1])->dtype(), DataType::kFloat16) << "mul reads a float16 copy of w";
  EXPECT_EQ(m.constantOf(add.inputs[1])->dtype(), DataType::kFloat32) << "add keeps the float32 w";
  EXPECT_EQ(add.inputs[1], net.w);
  EXPECT_EQ(halfBitsToFloat(m.constantOf(mul.inputs[1])->dataAs<uint16_t>()[1]), -1.25f);
  EXPECT_EQ(m.values[net.mul].dtype, DataType::kFloat16) << "a narrow node's output keeps its id";
  EXPECT_EQ(m.values[m.outputs[0]].dtype, DataType::kFloat32) << "graph outputs stay float32";
  EXPECT_EQ(m.values[m.outputs[0]].name, "relu_out") << "the output keeps its name";
  // Producers precede readers, and the types agree everywhere (shape inference checks every node's dtypes).
  ir::Graph annotated = m;
  ASSERT_TRUE(builder::annotateShapes(annotated, net.profiles).isOk());
  for (size_t i = 0; i < m.nodes.size(); ++i)
    for (ir::ValueId in : m.nodes[i].inputs)
      if (in != ir::kNoValue && m.values[in].producer >= 0) EXPECT_LT(static_cast<size_t>(m.values[in].producer), i);

  // The mixed graph computes the same function within float16's rounding, at odd batches.
  for (int64_t batch : {1, 3, 5}) {
    const Tensor x = randomX(batch, static_cast<uint32_t>(batch));
    auto ref = run(net.g, net.profiles, x);
    auto got = run(m, net.profiles, x);
    const Tensor& r = ref.at("relu_out");
    const Tensor& o = got.at("relu_out");
    ASSERT_EQ(o.dtype(), DataType::kFloat32);
    double scale = 0, err = 0;
    for (int64_t i = 0; i < r.elementCount(); ++i) {
      scale = std::max(scale, std::fabs(double(r.dataAs<float>()[i])));
      err = std::max(err, std::fabs(double(r.dataAs<float>()[i]) - o.dataAs<float>()[i]));
    }
    ASSERT_GT(scale, 0.1) << "the reference is not degenerate";
    EXPECT_LE(err / scale, 2e-3) << "batch " << batch;
    EXPECT_GT(err, 0) << "float16 rounding shows: the narrow path really ran";
  }
}

TEST(MixedPrecision, BFloat16ConstantsAndShapeProgramsUntouched) {
  SmallNet net;
  // An integer side path: Shape(x) -> a graph output; it must stay int64 and on the host.
  const ir::ValueId shape = node(net.g, OpKind::kShape, "shape", {net.x});
  net.g.outputs.push_back(shape);
  ASSERT_TRUE(builder::annotateShapes(net.g, net.profiles).isOk());
  std::vector<bool> narrow(net.g.nodes.size(), true);
  auto mixed = passes::applyPrecision(net.g, DataType::kBFloat16, narrow);
  ASSERT_TRUE(mixed.hasValue()) << mixed.status().toString();
  const ir::Graph& m = mixed->graph;
  EXPECT_EQ(m.values[shape].dtype, DataType::kInt64);
  const ir::Node& mul = m.nodes[mixed->nodeOf[net.index("mul")]];
  EXPECT_EQ(m.constantOf(mul.inputs[1])->dtype(), DataType::kBFloat16);
  EXPECT_FALSE(m.isConstant(net.w)) << "no float32 reader is left: the float32 w is dropped";
  EXPECT_EQ(countOps(m, OpKind::kCast), 2) << "one cast in (x), one out (relu)";
}

TEST(MixedPrecision, ShapeOfANarrowValueNeedsNoCast) {
  SmallNet net;
  // Shape reads only dims (torch's flatten after GlobalAveragePool does this): a Cast for it is a wasted kernel.
  const ir::ValueId shape = node(net.g, OpKind::kShape, "shape_of_add", {net.add});
  net.g.outputs.push_back(shape);
  ASSERT_TRUE(builder::annotateShapes(net.g, net.profiles).isOk());
  std::vector<bool> narrow(net.g.nodes.size(), true);
  narrow[nodeIndex(net.g, "shape_of_add")] = false;  // not a float layer: the planner leaves it float32
  auto mixed = passes::applyPrecision(net.g, DataType::kFloat16, narrow);
  ASSERT_TRUE(mixed.hasValue()) << mixed.status().toString();
  const ir::Graph& m = mixed->graph;
  EXPECT_EQ(countOps(m, OpKind::kCast), 2) << "one cast in (x), one out (relu); none for the Shape";
  const ir::Node& shapeNode = m.nodes[mixed->nodeOf[nodeIndex(net.g, "shape_of_add")]];
  EXPECT_EQ(m.values[shapeNode.inputs[0]].dtype, DataType::kFloat16) << "Shape reads the narrow value itself";
  // And the engine still runs: the shape output is the batch and 4.
  const Tensor x = randomX(3, 7);
  auto out = run(m, net.profiles, x);
  ASSERT_EQ(out.at("shape_of_add_out").elementCount(), 2);
  EXPECT_EQ(out.at("shape_of_add_out").dataAs<int64_t>()[0], 3);
  EXPECT_EQ(out.at("shape_of_add_out").dataAs<int64_t>()[1], 4);
}

/// Forwards to the CPU backend but refuses `refusedOp` in any narrow type, as a backend without that kernel does.
class RefusingBackend final : public backends::Backend {
 public:
  explicit RefusingBackend(OpKind refused) : inner_(backends::createBackend(DeviceKind::kCpu).value()), refused_(refused) {}
  DeviceKind kind() const override { return inner_->kind(); }
  std::string deviceName() const override { return inner_->deviceName(); }
  Expected<void*> allocate(size_t b) override { return inner_->allocate(b); }
  void release(void* p) override { inner_->release(p); }
  Status copyToDevice(void* d, const void* s, size_t b, void* st) override { return inner_->copyToDevice(d, s, b, st); }
  Status copyToHost(void* d, const void* s, size_t b, void* st) override { return inner_->copyToHost(d, s, b, st); }
  Status synchronize(void* s) override { return inner_->synchronize(s); }
  Expected<void*> allocateHost(size_t b) override { return inner_->allocateHost(b); }
  void releaseHost(void* p) override { inner_->releaseHost(p); }
  std::map<std::string, std::string> buildFacts() const override { return inner_->buildFacts(); }
  Status checkCompatible(const std::map<std::string, std::string>& f) const override { return inner_->checkCompatible(f); }
  Status supports(const ir::Graph& graph, const ir::Node& node) const override {
    if (node.op == refused_)
      for (ir::ValueId v : node.inputs)
        if (v != ir::kNoValue && graph.values[v].dtype == DataType::kFloat16)
          return unsupported(graph.describe(node) + ": no float16 kernel in this test backend");
    return inner_->supports(graph, node);
  }
  Expected<std::unique_ptr<backends::Kernel>> createKernel(const ir::Graph& g, const ir::Node& n,
                                                           const std::string& t) override {
    return inner_->createKernel(g, n, t);
  }

 private:
  std::unique_ptr<backends::Backend> inner_;
  OpKind refused_;
};

TEST(MixedPrecision, LayersWithoutANarrowKernelStayFloat32WithTheReason) {
  SmallNet net;
  RefusingBackend backend(OpKind::kAdd);
  BuilderConfig config;
  config.allow(Precision::kFP16);
  auto plan = builder::planPrecision(net.g, net.profiles[0], backend, config, DataType::kFloat16);
  ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
  EXPECT_TRUE(plan->narrow[net.index("mul")]);
  EXPECT_TRUE(plan->narrow[net.index("relu")]);
  EXPECT_FALSE(plan->narrow[net.index("add")]);
  EXPECT_NE(plan->fp32Reason[net.index("add")].find("no float16 kernel"), std::string::npos)
      << plan->fp32Reason[net.index("add")];
  auto mixed = builder::makeMixedGraph(net.g, *plan, backend, net.profiles);
  ASSERT_TRUE(mixed.hasValue()) << mixed.status().toString();
  EXPECT_EQ(mixed->graph.values[net.add].dtype, DataType::kFloat32);
}

TEST(MixedPrecision, PinsHoldAndObeyRefusesAPinThatCannot) {
  SmallNet net;
  RefusingBackend backend(OpKind::kAdd);
  BuilderConfig config;
  config.allow(Precision::kFP16);
  config.layerPrecisions = {{"m?l", Precision::kFP32}};
  auto plan = builder::planPrecision(net.g, net.profiles[0], backend, config, DataType::kFloat16);
  ASSERT_TRUE(plan.hasValue());
  EXPECT_FALSE(plan->narrow[net.index("mul")]);
  EXPECT_NE(plan->fp32Reason[net.index("mul")].find("pinned"), std::string::npos);
  config.layerPrecisions = {{"a*", Precision::kFP16}};
  config.precisionConstraints = PrecisionConstraints::kObey;
  auto refused = builder::planPrecision(net.g, net.profiles[0], backend, config, DataType::kFloat16);
  ASSERT_FALSE(refused.hasValue());
  EXPECT_NE(refused.status().message().find("'add'"), std::string::npos) << refused.status().message();
  config.precisionConstraints = PrecisionConstraints::kPrefer;
  auto preferred = builder::planPrecision(net.g, net.profiles[0], backend, config, DataType::kFloat16);
  ASSERT_TRUE(preferred.hasValue());
  EXPECT_FALSE(preferred->narrow[net.index("add")]);
}

TEST(MixedPrecision, WildcardsMatchLikeShellGlobs) {
  EXPECT_TRUE(builder::wildcardMatch("*", ""));
  EXPECT_TRUE(builder::wildcardMatch("/m/layer1/*", "/m/layer1/conv/Conv"));
  EXPECT_FALSE(builder::wildcardMatch("/m/layer1/*", "/m/layer10"));
  EXPECT_TRUE(builder::wildcardMatch("*Conv?", "/a/Conv1"));
  EXPECT_FALSE(builder::wildcardMatch("*Conv?", "/a/Conv"));
  EXPECT_TRUE(builder::wildcardMatch("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(builder::wildcardMatch("a*b*c", "aXbYbZ"));
}

TEST(MixedPrecision, GuardKeepsOutOfRangeLayersInFloat32) {
  // w scaled so that mul and add reach ~1e5 at |x| <= 2: beyond float16 (65504), fine for bfloat16.
  SmallNet net(4e4f);
  auto backend = backends::createBackend(DeviceKind::kCpu).value();
  BuilderConfig config;
  config.allow(Precision::kFP16);
  config.device = DeviceKind::kCpu;
  auto plan = builder::planPrecision(net.g, net.profiles[0], *backend, config, DataType::kFloat16);
  ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
  ASSERT_EQ(plan->narrowCount(), 3u);
  auto guard = builder::AccuracyGuard::create(net.g, net.profiles, DeviceKind::kCpu, config, backend->buildFacts());
  ASSERT_TRUE(guard.hasValue()) << guard.status().toString();
  (*guard)->keepOutOfRange(*plan);
  for (const char* name : {"mul", "add", "relu"}) {
    EXPECT_FALSE(plan->narrow[net.index(name)]) << name;
    EXPECT_NE(plan->fp32Reason[net.index(name)].find("range"), std::string::npos) << plan->fp32Reason[net.index(name)];
  }
  // Once they are float32, the engine agrees with the reference.
  auto mixed = builder::makeMixedGraph(net.g, *plan, *backend, net.profiles);
  ASSERT_TRUE(mixed.hasValue());
  auto agree = (*guard)->checkAndPromote(*mixed, {}, *plan);
  ASSERT_TRUE(agree.hasValue()) << agree.status().toString();
  EXPECT_TRUE(*agree) << (*guard)->outputSummary();
}

TEST(MixedPrecision, GuardFindsTheLayerWhereTheErrorStarts) {
  // relu(x*a - x*b) with b within 2e-3 of a = 1: bfloat16 rounds b to 1, and the subtraction loses everything.
  ir::Graph g;
  const ir::ValueId x = floatInput(g);
  const ir::ValueId a = constant(g, "a", {1.0f, 1.0f, 1.0f, 1.0f});
  const ir::ValueId b = constant(g, "b", {1.001f, 1.002f, 0.999f, 0.998f});
  const ir::ValueId xa = node(g, OpKind::kMul, "xa", {x, a});
  const ir::ValueId xb = node(g, OpKind::kMul, "xb", {x, b});
  const ir::ValueId diff = node(g, OpKind::kSub, "diff", {xa, xb});
  const ir::ValueId y = node(g, OpKind::kRelu, "relu", {diff});
  g.outputs = {y};
  ASSERT_TRUE(g.topologicalSort().isOk());
  std::vector<OptimizationProfile> profiles{OptimizationProfile{{{"x", {1, 4}, {64, 4}, {64, 4}}}}};
  ASSERT_TRUE(builder::annotateShapes(g, profiles).isOk());
  auto backend = backends::createBackend(DeviceKind::kCpu).value();
  BuilderConfig config;
  config.allow(Precision::kBF16);
  config.device = DeviceKind::kCpu;
  auto plan = builder::planPrecision(g, profiles[0], *backend, config, DataType::kBFloat16);
  ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
  auto guard = builder::AccuracyGuard::create(g, profiles, DeviceKind::kCpu, config, backend->buildFacts());
  ASSERT_TRUE(guard.hasValue()) << guard.status().toString();
  (*guard)->keepOutOfRange(*plan);
  EXPECT_EQ(plan->narrowCount(), 4u) << "nothing is out of range";
  bool agree = false;
  for (int round = 0; round < 4 && !agree; ++round) {
    auto mixed = builder::makeMixedGraph(g, *plan, *backend, profiles);
    ASSERT_TRUE(mixed.hasValue());
    auto ok = (*guard)->checkAndPromote(*mixed, {}, *plan);
    ASSERT_TRUE(ok.hasValue()) << ok.status().toString();
    agree = *ok;
  }
  EXPECT_TRUE(agree) << (*guard)->outputSummary();
  // b rounds to 1.0 in bfloat16 (8 bits): the error starts at xb (or at the subtraction), never at relu.
  const size_t xbIndex = nodeIndex(g, "xb"), relu = nodeIndex(g, "relu");
  EXPECT_FALSE(plan->narrow[xbIndex]) << "xb rounds b to 1 in bfloat16";
  EXPECT_TRUE(plan->narrow[relu]) << plan->fp32Reason[relu];
}

TEST(MixedPrecision, GuardKeepsTheInputsOfAnIllConditionedFloat32LayerInFloat32) {
  // y = (x + 0) - 1000.3 on x in [1000, 1001]: 'pass' rounds x to float16 (spacing 0.5, error ~2.5e-4 of its scale),
  // and the pinned-FP32 subtraction turns that into ~0.5 of its output's scale. The fix is 'pass' in FP32.
  ir::Graph g;
  const ir::ValueId x = floatInput(g);
  const ir::ValueId pass = node(g, OpKind::kAdd, "pass", {x, constant(g, "zero", {0.f, 0.f, 0.f, 0.f})});
  const ir::ValueId y = node(g, OpKind::kSub, "cancel", {pass, constant(g, "c", {1000.3f, 1000.3f, 1000.3f, 1000.3f})});
  g.outputs = {y};
  ASSERT_TRUE(g.topologicalSort().isOk());
  std::vector<OptimizationProfile> profiles{OptimizationProfile{{{"x", {1, 4}, {64, 4}, {64, 4}}}}};
  ASSERT_TRUE(builder::annotateShapes(g, profiles).isOk());
  auto backend = backends::createBackend(DeviceKind::kCpu).value();
  BuilderConfig config;
  config.allow(Precision::kFP16);
  config.device = DeviceKind::kCpu;
  config.layerPrecisions = {{"cancel", Precision::kFP32}};
  Tensor calib = Tensor::allocate(DataType::kFloat32, {64, 4}).value();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(1000.f, 1001.f);
  for (int64_t i = 0; i < calib.elementCount(); ++i) calib.dataAs<float>()[i] = u(rng);
  const std::string dir = ::testing::TempDir() + "/kiln_guard_calib";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(writeNpyFile(dir + "/0.npy", calib).isOk());
  config.calibrationData = {{"x", dir}};
  auto plan = builder::planPrecision(g, profiles[0], *backend, config, DataType::kFloat16);
  ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
  ASSERT_EQ(plan->narrowCount(), 1u);
  auto guard = builder::AccuracyGuard::create(g, profiles, DeviceKind::kCpu, config, backend->buildFacts());
  ASSERT_TRUE(guard.hasValue()) << guard.status().toString();
  auto mixed = builder::makeMixedGraph(g, *plan, *backend, profiles);
  ASSERT_TRUE(mixed.hasValue());
  auto agree = (*guard)->checkAndPromote(*mixed, {}, *plan);
  ASSERT_TRUE(agree.hasValue()) << agree.status().toString();
  EXPECT_FALSE(*agree) << "float16 rounding of x shows at the output: " << (*guard)->outputSummary();
  const size_t passIndex = nodeIndex(g, "pass");
  EXPECT_FALSE(plan->narrow[passIndex]);
  EXPECT_NE(plan->fp32Reason[passIndex].find("amplifies"), std::string::npos) << plan->fp32Reason[passIndex];
  auto fixed = builder::makeMixedGraph(g, *plan, *backend, profiles);
  ASSERT_TRUE(fixed.hasValue());
  auto after = (*guard)->checkAndPromote(*fixed, {}, *plan);
  ASSERT_TRUE(after.hasValue());
  EXPECT_TRUE(*after) << (*guard)->outputSummary();
}

TEST(MixedPrecision, CpuBuildsWithFp16FlagBuildFloat32Engines) {
  // Precision flags allow a type; they never make a build fail. The CPU backend computes in FP32.
  SmallNet net;
  Network network(std::make_unique<ir::Graph>(net.g));
  BuilderConfig config;
  config.allow(Precision::kFP16);
  config.device = DeviceKind::kCpu;
  config.addProfile(net.profiles[0]);
  auto bytes = buildEngine(network, config);
  ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
  auto engine = Engine::loadFromMemory(bytes->data(), bytes->size());
  ASSERT_TRUE(engine.hasValue());
  EXPECT_EQ((*engine)->outputs()[0].dtype, DataType::kFloat32);
}

}  // namespace
}  // namespace kiln

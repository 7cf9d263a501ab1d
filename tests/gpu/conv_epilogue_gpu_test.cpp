// Conv epilogues fused on the GPU: Conv + bias [+ residual Add] + activation, for every activation the fusion pass
// knows (Relu through both cuDNN paths; LeakyRelu, Sigmoid, x*sigmoid(x), Tanh, Elu, Gelu, HardSwish, HardSigmoid,
// Clip and a bare residual Add through cuDNN's graph API). Each case is a small graph built here, compiled FP16 and
// FP32-with-TF32 for CUDA (both run channels-last through the same paths) and strict FP32 for the CPU backend (which
// runs the unfused nodes), on random non-zero inputs at odd shapes and two batches. Checked: the activation nodes
// are gone from the CUDA engine (fused into the Conv), the conv's kernels are cuDNN graph engines where only that
// path can fuse, and the CUDA result matches the CPU's FP32 one (cosine >= 0.999, max abs error <= 2e-2 of the
// output's scale: FP16 or TF32 inputs and weights, FP32 accumulation). The split form (cuDNN runs conv + bias +
// residual, kiln's own kernel the activation in place) is checked the same way by rewriting the engine's conv tactic
// to that form.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "engine/engine_file.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "test_util/compare.h"
#include "test_util/gpu.h"

namespace kiln {
namespace {

Tensor randomTensor(Dims dims, std::mt19937& rng, float scale) { return test::randomNonZero(std::move(dims), rng, scale); }

Tensor scalar(float v) {
  Tensor t = *Tensor::allocate(DataType::kFloat32, {});
  t.dataAs<float>()[0] = v;
  return t;
}

struct Geometry {
  int64_t c = 16, k = 24, h = 13, w = 11, kernel = 3, stride = 1, pad = 1;
  int64_t outH() const { return (h + 2 * pad - kernel) / stride + 1; }
  int64_t outW() const { return (w + 2 * pad - kernel) / stride + 1; }
};

/// Adds the activation after `x` to `g`; returns its output.
using ActivationBuilder = std::function<ir::ValueId(ir::Graph&, ir::ValueId)>;

ir::ValueId addNode(ir::Graph& g, const std::string& name, ir::OpKind op, std::vector<ir::ValueId> inputs,
                    ir::Attributes attrs = {}) {
  ir::Node n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  const ir::ValueId out = g.addValue(name + "_out", DataType::kFloat32);
  n.outputs = {out};
  n.attrs = std::move(attrs);
  g.nodes.push_back(std::move(n));
  return out;
}

/// X [N,C,H,W] -> Conv(W, B) [-> Add(skip)] -> activation -> Y, where skip is a bias-less 1x1 conv of X with the
/// same stride (a ResNet downsample branch), so that both Add inputs are computed on the device.
std::unique_ptr<ir::Graph> makeGraph(const Geometry& geo, bool residual, const ActivationBuilder& activation,
                                     uint32_t seed) {
  std::mt19937 rng(seed);
  auto g = std::make_unique<ir::Graph>();
  const ir::ValueId x = g->addValue("x", DataType::kFloat32);
  g->values[x].rankKnown = true;
  g->values[x].dims = {kDynamicDim, geo.c, geo.h, geo.w};
  g->inputs.push_back(x);
  ir::ValueId skip = ir::kNoValue;
  if (residual) {
    const ir::ValueId ws = g->addConstant("w_skip", randomTensor({geo.k, geo.c, 1, 1}, rng, 0.5f));
    ir::Attributes a;
    a.set("kernel_shape", std::vector<int64_t>{1, 1});
    a.set("strides", std::vector<int64_t>{geo.stride, geo.stride});
    skip = addNode(*g, "skip_conv", ir::OpKind::kConv, {x, ws}, a);
  }
  const float wscale = 1.f / std::sqrt(static_cast<float>(geo.c * geo.kernel * geo.kernel));
  const ir::ValueId w = g->addConstant("w", randomTensor({geo.k, geo.c, geo.kernel, geo.kernel}, rng, 2.f * wscale));
  const ir::ValueId b = g->addConstant("b", randomTensor({geo.k}, rng, 0.5f));
  ir::Attributes conv;
  conv.set("kernel_shape", std::vector<int64_t>{geo.kernel, geo.kernel});
  conv.set("strides", std::vector<int64_t>{geo.stride, geo.stride});
  conv.set("pads", std::vector<int64_t>{geo.pad, geo.pad, geo.pad, geo.pad});
  ir::ValueId y = addNode(*g, "conv", ir::OpKind::kConv, {x, w, b}, conv);
  if (residual) y = addNode(*g, "add", ir::OpKind::kAdd, {y, skip});
  if (activation) y = activation(*g, y);
  g->outputs.push_back(y);
  g->values[y].name = "y";
  return g;
}

/// CPU: strict FP32. CUDA: FP16, or FP32 with TF32 when `tf32`.
std::shared_ptr<Engine> build(std::unique_ptr<ir::Graph> graph, DeviceKind device, const Geometry& geo,
                              std::vector<std::byte>* bytes, bool tf32 = false) {
  Network network(std::move(graph));
  BuilderConfig config;
  config.device = device;
  config.disallow(Precision::kTF32);
  if (device == DeviceKind::kCuda) {
    if (tf32) config.allow(Precision::kTF32);
    else config.allow(Precision::kFP16);
  }
  OptimizationProfile profile;
  profile.inputs.push_back({"x", {1, geo.c, geo.h, geo.w}, {3, geo.c, geo.h, geo.w}, {4, geo.c, geo.h, geo.w}});
  config.addProfile(profile);
  auto plan = buildEngine(network, config);
  EXPECT_TRUE(plan.hasValue()) << plan.status().toString();
  if (!plan) return nullptr;
  if (bytes) *bytes = *plan;
  auto engine = Engine::loadFromMemory(plan->data(), plan->size());
  EXPECT_TRUE(engine.hasValue()) << engine.status().toString();
  return engine ? *engine : nullptr;
}

struct Case {
  std::string name;
  std::string fusedAs;  // the activation attribute the CUDA conv must carry
  bool residual = false;
  ActivationBuilder activation;
  bool graphOnly = true;  // only cuDNN's graph API fuses it
};

ir::Attributes floatAttr(const std::string& key, float v) {
  ir::Attributes a;
  a.set(key, v);
  return a;
}

std::vector<Case> cases() {
  using ir::OpKind;
  std::vector<Case> list;
  list.push_back({"Relu", "Relu", false, [](ir::Graph& g, ir::ValueId x) { return addNode(g, "act", OpKind::kRelu, {x}); }, false});
  list.push_back({"AddRelu", "Relu", true, [](ir::Graph& g, ir::ValueId x) { return addNode(g, "act", OpKind::kRelu, {x}); }, false});
  list.push_back({"Sigmoid", "Sigmoid", false,
                  [](ir::Graph& g, ir::ValueId x) { return addNode(g, "act", OpKind::kSigmoid, {x}); }});
  list.push_back({"SiluAsMulSigmoid", "Silu", false, [](ir::Graph& g, ir::ValueId x) {
                    const ir::ValueId s = addNode(g, "sig", OpKind::kSigmoid, {x});
                    return addNode(g, "mul", OpKind::kMul, {s, x});
                  }});
  // Bounds inside the output's range, so both clip often.
  list.push_back({"Clip", "Clip", false, [](ir::Graph& g, ir::ValueId x) {
                    const ir::ValueId lo = g.addConstant("lo", scalar(-0.4f)), hi = g.addConstant("hi", scalar(0.6f));
                    return addNode(g, "act", OpKind::kClip, {x, lo, hi});
                  }});
  list.push_back({"AddRelu6", "Clip", true, [](ir::Graph& g, ir::ValueId x) {
                    const ir::ValueId lo = g.addConstant("lo", scalar(0.f)), hi = g.addConstant("hi", scalar(0.6f));
                    return addNode(g, "act", OpKind::kClip, {x, lo, hi});
                  }});
  list.push_back({"ClipUpperOnly", "Clip", false, [](ir::Graph& g, ir::ValueId x) {
                    const ir::ValueId hi = g.addConstant("hi", scalar(0.3f));
                    return addNode(g, "act", OpKind::kClip, {x, ir::kNoValue, hi});
                  }});
  list.push_back({"HardSwish", "HardSwish", false,
                  [](ir::Graph& g, ir::ValueId x) { return addNode(g, "act", OpKind::kHardSwish, {x}); }});
  list.push_back({"HardSigmoid", "HardSigmoid", false, [](ir::Graph& g, ir::ValueId x) {
                    ir::Attributes a = floatAttr("alpha", 0.3f);
                    a.set("beta", 0.4f);
                    return addNode(g, "act", OpKind::kHardSigmoid, {x}, a);
                  }});
  list.push_back({"LeakyRelu", "LeakyRelu", false, [](ir::Graph& g, ir::ValueId x) {
                    return addNode(g, "act", OpKind::kLeakyRelu, {x}, floatAttr("alpha", 0.15f));
                  }});
  list.push_back({"Tanh", "Tanh", false, [](ir::Graph& g, ir::ValueId x) { return addNode(g, "act", OpKind::kTanh, {x}); }});
  list.push_back({"Elu", "Elu", false, [](ir::Graph& g, ir::ValueId x) {
                    return addNode(g, "act", OpKind::kElu, {x}, floatAttr("alpha", 0.7f));
                  }});
  list.push_back({"Gelu", "Gelu", false, [](ir::Graph& g, ir::ValueId x) { return addNode(g, "act", OpKind::kGelu, {x}); }});
  list.push_back({"AddSigmoid", "Sigmoid", true,
                  [](ir::Graph& g, ir::ValueId x) { return addNode(g, "act", OpKind::kSigmoid, {x}); }});
  list.push_back({"AddOnly", "Identity", true, nullptr});
  return list;
}

class ConvEpilogue : public ::testing::TestWithParam<Case> {};

TEST_P(ConvEpilogue, FusedOnCudaMatchesCpu) {
  REQUIRE_GPU();
  const Case& c = GetParam();
  for (const bool tf32 : {false, true})
  for (const Geometry& geo : {Geometry{}, Geometry{8, 32, 17, 15, 5, 2, 2}}) {
    SCOPED_TRACE(tf32 ? "FP32 with TF32" : "FP16");
    std::vector<std::byte> bytes;
    auto cpu = build(makeGraph(geo, c.residual, c.activation, 7), DeviceKind::kCpu, geo, nullptr);
    auto gpu = build(makeGraph(geo, c.residual, c.activation, 7), DeviceKind::kCuda, geo, &bytes, tf32);
    ASSERT_TRUE(cpu && gpu);
    // The CUDA engine's graph: one Conv carrying the activation, and no activation or Add nodes left.
    auto model = engine::readEngine(bytes.data(), bytes.size());
    ASSERT_TRUE(model.hasValue()) << model.status().toString();
    int convs = 0;
    bool activationNode = false;
    for (const ir::Node& n : model->graph.nodes) {
      activationNode = activationNode || n.name == "act";
      EXPECT_NE(n.name, "add") << c.name << ": the residual add was not fused";
      if (n.op != ir::OpKind::kConv || n.name == "skip_conv") continue;
      ++convs;
      EXPECT_EQ(n.attrs.getString("activation", ""), c.fusedAs) << c.name;
    }
    EXPECT_EQ(convs, 1);
    EXPECT_EQ(activationNode, c.fusedAs.empty()) << c.name << (activationNode ? ": the activation was not fused"
                                                                              : ": the activation should stay apart");
    auto cpuContext = std::move(cpu->createContext(0).value());
    auto gpuContext = std::move(gpu->createContext(0).value());
    for (int64_t batch : {1, 4}) {
      std::mt19937 rng(static_cast<uint32_t>(batch * 31 + geo.k));
      std::map<std::string, Tensor> in{{"x", randomTensor({batch, geo.c, geo.h, geo.w}, rng, 1.f)}};
      auto ref = cpuContext->infer(in);
      auto out = gpuContext->infer(in);
      ASSERT_TRUE(ref && out) << ref.status().toString() << out.status().toString();
      const auto e = test::errorStats(out->at("y"), ref->at("y"));
      EXPECT_GE(e.cosine, 0.999) << c.name << " batch " << batch;
      EXPECT_LE(e.maxAbs, 2e-2 * e.maxAbsRef) << c.name << " batch " << batch;
      std::printf("[ INFO     ] %s %s k%lld s%lld batch %lld: cosine %.6f max abs %.3g (scale %.3g)\n", c.name.c_str(),
                  tf32 ? "tf32" : "fp16", static_cast<long long>(geo.kernel), static_cast<long long>(geo.stride),
                  static_cast<long long>(batch), e.cosine, e.maxAbs, e.maxAbsRef);
    }
    if (c.graphOnly) {  // only the graph API fuses this: the conv's kernel must be a cuDNN graph engine
      auto layers = gpuContext->profileLayers(nullptr, 1);
      ASSERT_TRUE(layers.hasValue()) << layers.status().toString();
      bool found = false;
      for (const auto& layer : *layers)
        if (layer.name == "conv") {
          found = true;
          std::printf("[ INFO     ] %s %s conv kernel: %s\n", c.name.c_str(), tf32 ? "tf32" : "fp16",
                      layer.tactic.c_str());
          // One kernel, or one per tuned batch ("per batch: [1] ... [3] ..."): all cuDNN graph engines.
          EXPECT_NE(layer.tactic.find("cudnn-graph:"), std::string::npos) << c.name << ": " << layer.tactic;
          EXPECT_EQ(layer.tactic.find("cudnn:"), std::string::npos) << c.name << ": " << layer.tactic;
          EXPECT_EQ(layer.tactic.find("cublaslt"), std::string::npos) << c.name << ": " << layer.tactic;
        }
      EXPECT_TRUE(found);
    }
  }
}

/// The engine's conv runs in the split form: its tactic is rewritten to one that names no real engine, in that form,
/// so the kernel takes cuDNN's heuristic choice for conv + bias [+ residual] and applies the activation itself.
class ConvEpilogueSplit : public ::testing::TestWithParam<Case> {};

std::vector<Case> graphOnlyActivations() {
  std::vector<Case> list;
  for (Case& c : cases())
    if (c.graphOnly && c.fusedAs != "Identity") list.push_back(std::move(c));
  return list;
}

TEST_P(ConvEpilogueSplit, MatchesCpu) {
  REQUIRE_GPU();
  const Case& c = GetParam();
  const Geometry geo{8, 32, 17, 15, 5, 2, 2};
  for (const bool tf32 : {false, true}) {
  SCOPED_TRACE(tf32 ? "FP32 with TF32" : "FP16");
  std::vector<std::byte> bytes;
  auto cpu = build(makeGraph(geo, c.residual, c.activation, 11), DeviceKind::kCpu, geo, nullptr);
  ASSERT_TRUE(build(makeGraph(geo, c.residual, c.activation, 11), DeviceKind::kCuda, geo, &bytes, tf32) && cpu);
  auto model = engine::readEngine(bytes.data(), bytes.size());
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  bool rewritten = false;
  for (size_t i = 0; i < model->graph.nodes.size(); ++i)
    if (model->graph.nodes[i].name == "conv") {
      model->tactics[i] = "cudnn-graph:engine=999999:knobs=:activation=kernel";
      rewritten = true;
    }
  ASSERT_TRUE(rewritten);
  auto split = engine::writeEngine(*model);
  ASSERT_TRUE(split.hasValue()) << split.status().toString();
  auto gpu = Engine::loadFromMemory(split->data(), split->size());
  ASSERT_TRUE(gpu.hasValue()) << gpu.status().toString();
  auto cpuContext = std::move(cpu->createContext(0).value());
  auto gpuContext = std::move((*gpu)->createContext(0).value());
  for (int64_t batch : {1, 3}) {
    std::mt19937 rng(static_cast<uint32_t>(batch * 17 + 5));
    std::map<std::string, Tensor> in{{"x", randomTensor({batch, geo.c, geo.h, geo.w}, rng, 1.f)}};
    auto ref = cpuContext->infer(in);
    auto out = gpuContext->infer(in);
    ASSERT_TRUE(ref && out) << ref.status().toString() << out.status().toString();
    const auto e = test::errorStats(out->at("y"), ref->at("y"));
    EXPECT_GE(e.cosine, 0.999) << c.name << " batch " << batch;
    EXPECT_LE(e.maxAbs, 2e-2 * e.maxAbsRef) << c.name << " batch " << batch;
  }
  auto layers = gpuContext->profileLayers(nullptr, 1);
  ASSERT_TRUE(layers.hasValue()) << layers.status().toString();
  for (const auto& layer : *layers)
    if (layer.name == "conv")
      EXPECT_NE(layer.tactic.find("as its own kernel"), std::string::npos) << c.name << ": " << layer.tactic;
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, ConvEpilogue, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Activations, ConvEpilogueSplit, ::testing::ValuesIn(graphOnlyActivations()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace kiln

// The cuBLASLt 1x1 NHWC conv kernel (tactic "cublaslt:1x1", conv1x1_cublaslt.cpp) against the CPU backend's NCHW
// conv on the same random non-zero inputs, as nhwc_gpu_test.cpp does: the CPU runs the plain NCHW Conv with the bias
// as its input, the host adds the residual and applies Relu in float64, and the result is transposed to NHWC.
// Tolerances (as in nhwc_gpu_test.cpp):
//   float32 (TF32 off): |cuda - ref| <= 1e-4 * (|ref| + rms(ref)) + 1e-6 per element.
//   float16: inputs rounded to float16 on both sides; cosine similarity >= 0.999 and max relative error
//            |d| / (|ref| + rms) <= 2e-2, printed for every case.
// Every case checks through Kernel::tactic() that the cuBLASLt kernel (not cuDNN) ran. With no GPU the tests print a
// visible skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "core/half.h"

namespace kiln {
namespace {

using backends::Backend;
using backends::DeviceTensor;
using ir::OpKind;

// ---- float16 on the host: kiln's conversions (core/half.h), round to nearest even.
uint16_t toHalf(float f) { return floatToHalfBits(f); }
float fromHalf(uint16_t h) { return halfBitsToFloat(h); }

struct HostTensor {
  Dims dims;
  std::vector<float> values;
  bool present() const { return !dims.empty(); }
};

HostTensor randomTensor(Dims dims, std::mt19937& rng, bool half) {
  HostTensor t{dims, std::vector<float>(static_cast<size_t>(elementCount(dims)))};
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  for (float& v : t.values) {
    do v = dist(rng);
    while (std::fabs(v) < 1e-2f);
    if (half) v = fromHalf(toHalf(v));
  }
  return t;
}

/// [N, C, H, W] -> [N, H, W, C] (also OIHW -> KRSC).
HostTensor toNhwc(const HostTensor& t) {
  const int64_t n = t.dims[0], c = t.dims[1], h = t.dims[2], w = t.dims[3];
  HostTensor r{{n, h, w, c}, std::vector<float>(t.values.size())};
  for (int64_t a = 0; a < n; ++a)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          r.values[static_cast<size_t>(((a * h + y) * w + x) * c + k)] =
              t.values[static_cast<size_t>(((a * c + k) * h + y) * w + x)];
  return r;
}

Tensor toTensor(const HostTensor& t, DataType type) {
  Tensor r = Tensor::allocate(type, t.dims).value();
  for (size_t i = 0; i < t.values.size(); ++i) {
    if (type == DataType::kFloat16) r.dataAs<uint16_t>()[i] = toHalf(t.values[i]);
    else r.dataAs<float>()[i] = t.values[i];
  }
  return r;
}

/// One Conv node; inputs 1 and 2 (W, B) are constants, X and the residual graph inputs; absent ones kNoValue.
ir::Graph makeGraph(const ir::Attributes& attrs, const std::vector<HostTensor>& inputs, DataType type) {
  ir::Graph g;
  ir::Node node;
  node.name = "n0";
  node.op = OpKind::kConv;
  node.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].present()) {
      node.inputs.push_back(ir::kNoValue);
      continue;
    }
    ir::ValueId id;
    if (i == 1 || i == 2) {
      id = g.addConstant("in" + std::to_string(i), toTensor(inputs[i], type));
    } else {
      id = g.addValue("in" + std::to_string(i), type);
      g.inputs.push_back(id);
    }
    g.values[id].rankKnown = true;
    g.values[id].dims = inputs[i].dims;
    g.values[id].dtype = type;
    node.inputs.push_back(id);
  }
  node.outputs.push_back(g.addValue("out0"));
  g.outputs.push_back(node.outputs[0]);
  g.nodes.push_back(node);
  return g;
}

/// Runs the graph's node on `backend` with `tactic`; returns the output and the kernel's own tactic report.
Expected<std::pair<HostTensor, std::string>> runNode(Backend& backend, const ir::Graph& g,
                                                     const std::vector<HostTensor>& inputs, const Dims& outDims,
                                                     DataType type, const std::string& tactic) {
  const ir::Node& node = g.nodes[0];
  KILN_RETURN_IF_ERROR(backend.supports(g, node));
  KILN_ASSIGN_OR_RETURN(auto kernel, backend.createKernel(g, node, tactic));
  std::vector<void*> owned;
  struct Cleanup {
    Backend& b;
    std::vector<void*>& p;
    ~Cleanup() {
      for (void* q : p) b.release(q);
    }
  } cleanup{backend, owned};
  std::vector<DeviceTensor> devIn;
  for (const HostTensor& t : inputs) {
    if (!t.present()) {
      devIn.push_back({});
      continue;
    }
    const Tensor host = toTensor(t, type);
    KILN_ASSIGN_OR_RETURN(void* p, backend.allocate(host.byteSize()));
    owned.push_back(p);
    KILN_RETURN_IF_ERROR(backend.copyToDevice(p, host.data(), host.byteSize(), nullptr));
    devIn.push_back({type, t.dims, p});
  }
  Tensor result = Tensor::allocate(type, outDims).value();
  KILN_ASSIGN_OR_RETURN(void* y, backend.allocate(result.byteSize()));
  owned.push_back(y);
  const DeviceTensor devOut[1] = {{type, outDims, y}};
  const size_t wsBytes = kernel->workspaceBytes(devIn, devOut);
  void* ws = nullptr;
  if (wsBytes) {
    KILN_ASSIGN_OR_RETURN(ws, backend.allocate(wsBytes));
    owned.push_back(ws);
  }
  KILN_RETURN_IF_ERROR(kernel->run(devIn, devOut, ws, nullptr));
  KILN_RETURN_IF_ERROR(backend.copyToHost(result.data(), y, result.byteSize(), nullptr));
  KILN_RETURN_IF_ERROR(backend.synchronize(nullptr));
  HostTensor out{outDims, std::vector<float>(static_cast<size_t>(elementCount(outDims)))};
  for (size_t i = 0; i < out.values.size(); ++i)
    out.values[i] = type == DataType::kFloat16 ? fromHalf(result.dataAs<uint16_t>()[i]) : result.dataAs<float>()[i];
  return std::pair{out, kernel->tactic()};
}

ir::Attributes convAttrs(bool nhwc, bool relu, std::vector<int64_t> pads = {0, 0, 0, 0},
                         std::vector<int64_t> kernel = {1, 1}) {
  ir::Attributes a;
  a.set("pads", pads);
  a.set("strides", std::vector<int64_t>{1, 1});
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("group", int64_t{1});
  a.set("kernel_shape", kernel);
  if (nhwc) a.set("data_format", std::string("NHWC"));
  if (relu) a.set("activation", std::string("Relu"));
  return a;
}

void compare(const HostTensor& want, const HostTensor& got, bool half, const std::string& label) {
  ASSERT_EQ(want.dims, got.dims) << label;
  const size_t n = want.values.size();
  double rms = 0, dot = 0, nw = 0, ng = 0, maxRel = 0;
  for (float v : want.values) rms += double(v) * v;
  rms = n ? std::sqrt(rms / double(n)) : 0;
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double w = want.values[i], g = got.values[i];
    dot += w * g, nw += w * w, ng += g * g;
    maxRel = std::isnan(g) ? INFINITY : std::max(maxRel, std::fabs(w - g) / (std::fabs(w) + rms + 1e-12));
    const bool ok = half || std::fabs(w - g) <= 1e-4 * (std::fabs(w) + rms) + 1e-6;
    if (!ok && bad++ < 5) ADD_FAILURE() << label << ": element " << i << ": reference " << w << ", cuda " << g;
  }
  EXPECT_EQ(bad, 0) << label;
  if (half) {
    const double cosine = (nw == 0 && ng == 0) ? 1.0 : dot / std::sqrt(nw * ng + 1e-300);
    std::printf("[  FP16    ] %s: cosine %.6f, max rel err %.3g\n", label.c_str(), cosine, maxRel);
    EXPECT_GE(cosine, 0.999) << label;
    EXPECT_LE(maxRel, 2e-2) << label;
  }
}

struct Case {
  std::string label;
  Dims x;  // NCHW
  int64_t k;
  bool relu = false;
  bool residual = false;
};

class Conv1x1Gemm : public ::testing::Test {
 protected:
  void SetUp() override {
    backends::BackendOptions options;
    options.allowTF32 = false;  // strict FP32 for the 1e-4 comparison
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
    auto cuda = backends::createBackend(DeviceKind::kCuda, options);
    if (!cuda) GTEST_SKIP() << "no CUDA device: " << cuda.status().toString();
    cuda_ = std::move(cuda.value());
  }

  struct Prepared {
    HostTensor want;                 // NHWC reference
    ir::Graph graph;                 // the NHWC fused node
    std::vector<HostTensor> inputs;  // NHWC X, KRSC W, B, residual
    Dims y;                          // NHWC output dims
  };

  /// Random NCHW inputs, the CPU reference, and the NHWC node for the CUDA backend.
  Prepared prepare(const Case& c, DataType type) {
    const bool half = type == DataType::kFloat16;
    std::mt19937 rng(7u + static_cast<uint32_t>(c.label.size()) * 13u + (half ? 1u : 0u));
    const Dims yNchw{c.x[0], c.k, c.x[2], c.x[3]};
    const HostTensor x = randomTensor(c.x, rng, half), w = randomTensor({c.k, c.x[1], 1, 1}, rng, half),
                     b = randomTensor({c.k}, rng, half);
    const HostTensor z = c.residual ? randomTensor(yNchw, rng, half) : HostTensor{};
    Prepared p;
    const ir::Graph plain = makeGraph(convAttrs(false, false), {x, w, b}, DataType::kFloat32);
    auto y = runNode(*cpu_, plain, {x, w, b}, yNchw, DataType::kFloat32, "");
    EXPECT_TRUE(y.hasValue()) << c.label << ": CPU reference: " << y.status().toString();
    if (!y) return p;
    HostTensor ref = y->first;
    for (size_t i = 0; i < ref.values.size(); ++i) {
      double v = ref.values[i];
      if (c.residual) v += z.values[i];
      if (c.relu) v = std::max(v, 0.0);
      ref.values[i] = static_cast<float>(v);
    }
    p.want = toNhwc(ref);
    p.inputs = {toNhwc(x), toNhwc(w), b};
    if (c.residual) p.inputs.push_back(toNhwc(z));
    p.graph = makeGraph(convAttrs(true, c.relu), p.inputs, type);
    p.y = p.want.dims;
    return p;
  }

  void check(const Case& c, std::initializer_list<DataType> types = {DataType::kFloat32, DataType::kFloat16}) {
    for (DataType type : types) {
      const bool half = type == DataType::kFloat16;
      const std::string label = c.label + (half ? " float16" : " float32");
      SCOPED_TRACE(label);
      Prepared p = prepare(c, type);
      ASSERT_TRUE(p.want.present());
      auto got = runNode(*cuda_, p.graph, p.inputs, p.y, type, "cublaslt:1x1");
      ASSERT_TRUE(got.hasValue()) << got.status().toString();
      std::printf("[  KERNEL  ] %s: '%s'\n", label.c_str(), got->second.c_str());
      EXPECT_EQ(got->second.rfind("cublaslt:1x1", 0), 0u) << "the cuBLASLt kernel did not run: " << got->second;
      EXPECT_EQ(got->second.find("cuDNN at some shapes"), std::string::npos) << got->second;
      compare(p.want, got->first, half, label);
    }
  }

  std::unique_ptr<Backend> cuda_, cpu_;
};

TEST_F(Conv1x1Gemm, BiasOnly) {
  check({"bias 2x32x7x9 -> 64", {2, 32, 7, 9}, 64});
  check({"bias 1x8x1x1 -> 16 (M=1)", {1, 8, 1, 1}, 16});
}

TEST_F(Conv1x1Gemm, BiasRelu) {
  check({"bias relu 1x16x5x3 -> 24 (M=15)", {1, 16, 5, 3}, 24, true});
  check({"bias relu 3x64x13x11 -> 128", {3, 64, 13, 11}, 128, true});
}

TEST_F(Conv1x1Gemm, BiasResidualRelu) {
  check({"bias residual relu 2x64x7x7 -> 256", {2, 64, 7, 7}, 256, true, true});
  check({"bias residual relu 3x40x5x7 -> 56 (M=105)", {3, 40, 5, 7}, 56, true, true});
  check({"bias residual relu 2x256x14x14 -> 64", {2, 256, 14, 14}, 64, true, true});
}

TEST_F(Conv1x1Gemm, OddChannelsFloat32) {
  // K=7, C=5: ld of 7 and 5 floats, pointers only 4-byte aligned at odd offsets; float32 only.
  check({"bias residual relu 1x5x9x10 -> 7", {1, 5, 9, 10}, 7, true, true}, {DataType::kFloat32});
  check({"bias 2x3x4x5 -> 7", {2, 3, 4, 5}, 7}, {DataType::kFloat32});
}

TEST_F(Conv1x1Gemm, NonQualifyingNodeFallsBackToCudnn) {
  // A 3x3 conv handed the cuBLASLt tactic is made by cuDNN (heuristics) and still right.
  std::mt19937 rng(3);
  const HostTensor x = randomTensor({1, 8, 6, 5}, rng, false), w = randomTensor({8, 8, 3, 3}, rng, false),
                   b = randomTensor({8}, rng, false);
  const ir::Graph plain = makeGraph(convAttrs(false, false, {1, 1, 1, 1}, {3, 3}), {x, w, b}, DataType::kFloat32);
  auto want = runNode(*cpu_, plain, {x, w, b}, {1, 8, 6, 5}, DataType::kFloat32, "");
  ASSERT_TRUE(want.hasValue()) << want.status().toString();
  const std::vector<HostTensor> nhwc{toNhwc(x), toNhwc(w), b};
  const ir::Graph g = makeGraph(convAttrs(true, false, {1, 1, 1, 1}, {3, 3}), nhwc, DataType::kFloat32);
  auto got = runNode(*cuda_, g, nhwc, {1, 6, 5, 8}, DataType::kFloat32, "cublaslt:1x1");
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  EXPECT_EQ(got->second.rfind("cudnn:", 0), 0u) << got->second;
  compare(toNhwc(want->first), got->first, false, "3x3 with cublaslt tactic");
}

TEST_F(Conv1x1Gemm, TunerPicksARunnableTactic) {
  // chooseTactic races cuBLASLt against cuDNN's legacy algorithms and graph engines; whichever wins must be right.
  for (const Case& c : {Case{"tune residual relu 4x64x28x28 -> 256", {4, 64, 28, 28}, 256, true, true},
                        Case{"tune bias 4x256x14x14 -> 64", {4, 256, 14, 14}, 64}}) {
    for (DataType type : {DataType::kFloat16, DataType::kFloat32}) {
      const bool half = type == DataType::kFloat16;
      const std::string label = c.label + (half ? " float16" : " float32");
      SCOPED_TRACE(label);
      Prepared p = prepare(c, type);
      ASSERT_TRUE(p.want.present());
      std::vector<DeviceTensor> shapesIn;
      for (const auto& t : p.inputs) shapesIn.push_back({type, t.dims, nullptr});
      const DeviceTensor shapesOut[1] = {{type, p.y, nullptr}};
      auto tactic = cuda_->chooseTactic(p.graph, p.graph.nodes[0], shapesIn, shapesOut);
      ASSERT_TRUE(tactic.hasValue()) << tactic.status().toString();
      std::printf("[  TACTIC  ] %s: '%s'\n", label.c_str(), tactic->c_str());
      // Each path's tactic, and the prefix its kernel reports.
      const std::pair<const char*, const char*> paths[] = {{"cublaslt:1x1", "cublaslt:1x1"}, {"cudnn:algo=", "cudnn:"},
                                                           {"cudnn-graph:", "cudnn-graph:"}, {"batches:", "per batch:"}};
      const char* reported = nullptr;
      for (const auto& [prefix, report] : paths)
        if (tactic->rfind(prefix, 0) == 0) reported = report;
      ASSERT_NE(reported, nullptr) << *tactic;
      auto got = runNode(*cuda_, p.graph, p.inputs, p.y, type, *tactic);
      ASSERT_TRUE(got.hasValue()) << got.status().toString();
      std::printf("[  KERNEL  ] %s: '%s'\n", label.c_str(), got->second.c_str());
      EXPECT_EQ(got->second.rfind(reported, 0), 0u) << got->second;
      compare(p.want, got->first, half, label);
    }
  }
}

}  // namespace
}  // namespace kiln

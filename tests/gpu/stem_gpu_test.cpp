// The space-to-depth stem and the NHWC pools on the GPU.
// 1. A ResNet-like stem (Conv 7x7/s2/p3 + bias + Relu, MaxPool 3x3/s2/p1) built FP16 for CUDA against the CPU
//    backend in FP32, at batch 1 and 3 and odd spatial sizes: the CUDA engine must contain the packing node
//    (SpaceToDepth with data_format NHWC) feeding a stride-1 conv, and no channel Pad. Tolerance as the other FP16
//    engine tests: cosine >= 0.999 and max abs error <= 2e-2 of the output's scale (FP16 inputs and weights, FP32
//    accumulation). A stride-1 stem (not packed) is checked the same way.
// 2. The extended SpaceToDepth kernel alone, CUDA against the CPU reference: identical bytes (float32 and float16).
// 3. NHWC MaxPool in float16 at C = 64 (16-byte path), 12 (8-byte), 6 (half2) and 3 (scalar), with NaNs in the
//    input: identical to the CPU's NCHW result on the same float16-rounded values (a max is exact; NaN taps are
//    skipped by both). AveragePool at the same widths: |cuda - cpu| <= 1e-3 * |cpu| + 1e-3 (float16 output rounding).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "backends/cpu/cpu_kernels.h"
#include "core/half.h"
#include "engine/engine_file.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "ops/shape_inference.h"
#include "test_util/compare.h"
#include "test_util/gpu.h"

namespace kiln {
namespace {

using ir::OpKind;

Tensor randomTensor(Dims dims, std::mt19937& rng, float scale) { return test::randomNonZero(std::move(dims), rng, scale); }

// ---- 1. the stem end to end

struct Stem {
  int64_t h, w, kernel, stride, pad;
};

ir::ValueId addNode(ir::Graph& g, const std::string& name, OpKind op, std::vector<ir::ValueId> inputs,
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

/// x [N, 3, H, W] -> Conv (64 filters) + bias -> Relu -> MaxPool 3x3/s2/p1 -> y.
std::unique_ptr<ir::Graph> stemGraph(const Stem& s) {
  std::mt19937 rng(17);
  auto g = std::make_unique<ir::Graph>();
  const ir::ValueId x = g->addValue("x", DataType::kFloat32);
  g->values[x].rankKnown = true;
  g->values[x].dims = {kDynamicDim, 3, s.h, s.w};
  g->inputs.push_back(x);
  const float wscale = 1.f / std::sqrt(static_cast<float>(3 * s.kernel * s.kernel));
  const ir::ValueId w = g->addConstant("w", randomTensor({64, 3, s.kernel, s.kernel}, rng, 2.f * wscale));
  const ir::ValueId b = g->addConstant("b", randomTensor({64}, rng, 0.5f));
  ir::Attributes conv;
  conv.set("kernel_shape", std::vector<int64_t>{s.kernel, s.kernel});
  conv.set("strides", std::vector<int64_t>{s.stride, s.stride});
  conv.set("pads", std::vector<int64_t>{s.pad, s.pad, s.pad, s.pad});
  ir::ValueId y = addNode(*g, "stem_conv", OpKind::kConv, {x, w, b}, conv);
  y = addNode(*g, "stem_relu", OpKind::kRelu, {y});
  ir::Attributes pool;
  pool.set("kernel_shape", std::vector<int64_t>{3, 3});
  pool.set("strides", std::vector<int64_t>{2, 2});
  pool.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  y = addNode(*g, "stem_pool", OpKind::kMaxPool, {y}, pool);
  g->outputs.push_back(y);
  g->values[y].name = "y";
  return g;
}

std::shared_ptr<Engine> build(const Stem& s, DeviceKind device, std::vector<std::byte>* bytes) {
  Network network(stemGraph(s));
  BuilderConfig config;
  config.device = device;
  config.disallow(Precision::kTF32);
  if (device == DeviceKind::kCuda) config.allow(Precision::kFP16);
  OptimizationProfile profile;
  profile.inputs.push_back({"x", {1, 3, s.h, s.w}, {3, 3, s.h, s.w}, {3, 3, s.h, s.w}});
  config.addProfile(profile);
  auto plan = buildEngine(network, config);
  EXPECT_TRUE(plan.hasValue()) << plan.status().toString();
  if (!plan) return nullptr;
  if (bytes) *bytes = *plan;
  auto engine = Engine::loadFromMemory(plan->data(), plan->size());
  EXPECT_TRUE(engine.hasValue()) << engine.status().toString();
  return engine ? *engine : nullptr;
}

void checkStem(const Stem& s, bool expectPacked) {
  const std::string label = std::to_string(s.kernel) + "x" + std::to_string(s.kernel) + "/s" +
                            std::to_string(s.stride) + " at " + std::to_string(s.h) + "x" + std::to_string(s.w);
  std::vector<std::byte> bytes;
  auto cpu = build(s, DeviceKind::kCpu, nullptr);
  auto gpu = build(s, DeviceKind::kCuda, &bytes);
  ASSERT_TRUE(cpu && gpu) << label;
  auto model = engine::readEngine(bytes.data(), bytes.size());
  ASSERT_TRUE(model.hasValue()) << model.status().toString();
  int packs = 0, pads = 0;
  const ir::Node* conv = nullptr;
  for (const ir::Node& n : model->graph.nodes) {
    if (n.op == OpKind::kPad) ++pads;
    if (n.op == OpKind::kConv) conv = &n;
    if (n.op != OpKind::kSpaceToDepth) continue;
    ++packs;
    EXPECT_EQ(n.attrs.getString("data_format", ""), "NHWC") << label;
    EXPECT_EQ(n.attrs.getInt("output_channels", 0), 16) << label;
  }
  ASSERT_NE(conv, nullptr) << label;
  EXPECT_EQ(packs, expectPacked ? 1 : 0) << label;
  EXPECT_EQ(pads, expectPacked ? 0 : 1) << label << ": the channel Pad is the fallback's";
  if (expectPacked) EXPECT_EQ(conv->attrs.getInts("strides"), (std::vector<int64_t>{1, 1})) << label;
  auto cpuContext = std::move(cpu->createContext(0).value());
  auto gpuContext = std::move(gpu->createContext(0).value());
  for (int64_t batch : {1, 3}) {
    std::mt19937 rng(static_cast<uint32_t>(batch * 131 + s.h));
    std::map<std::string, Tensor> in{{"x", randomTensor({batch, 3, s.h, s.w}, rng, 1.f)}};
    auto ref = cpuContext->infer(in);
    auto out = gpuContext->infer(in);
    ASSERT_TRUE(ref && out) << ref.status().toString() << out.status().toString();
    ASSERT_EQ(out->at("y").dims(), ref->at("y").dims());
    const auto e = test::errorStats(out->at("y"), ref->at("y"));
    std::printf("[ INFO     ] stem %s batch %lld: cosine %.6f, max abs %.3g (scale %.3g)\n", label.c_str(),
                static_cast<long long>(batch), e.cosine, e.maxAbs, e.maxAbsRef);
    EXPECT_GE(e.cosine, 0.999) << label << " batch " << batch;
    EXPECT_LE(e.maxAbs, 2e-2 * e.maxAbsRef) << label << " batch " << batch;
  }
}

TEST(StemGpu, PackedResNetStemFp16MatchesCpuFp32) {
  REQUIRE_GPU();
  checkStem({37, 53, 7, 2, 3}, true);
  checkStem({64, 48, 7, 2, 3}, true);
  checkStem({33, 29, 3, 2, 1}, true);
}

TEST(StemGpu, StrideOneStemKeepsTheChannelPadPath) {
  REQUIRE_GPU();
  checkStem({21, 19, 3, 1, 1}, false);
}

// ---- kernels alone: one node on the CUDA backend

/// Runs `node` (input 0 = `x`, one output of `outDims`/`outType`) on `backend`.
Expected<Tensor> runOnBackend(backends::Backend& backend, const ir::Node& proto, const Tensor& x, const Dims& outDims,
                              DataType outType) {
  ir::Graph g;
  ir::Node node = proto;
  const ir::ValueId in = g.addValue("x", x.dtype());
  g.values[in].rankKnown = true;
  g.values[in].dims = x.dims();
  g.inputs.push_back(in);
  const ir::ValueId out = g.addValue("y", outType);
  g.values[out].rankKnown = true;
  g.values[out].dims = outDims;
  node.inputs = {in};
  node.outputs = {out};
  g.outputs.push_back(out);
  g.nodes.push_back(node);
  KILN_RETURN_IF_ERROR(backend.supports(g, g.nodes[0]));
  KILN_ASSIGN_OR_RETURN(auto kernel, backend.createKernel(g, g.nodes[0], ""));
  KILN_ASSIGN_OR_RETURN(Tensor result, Tensor::allocate(outType, outDims));
  KILN_ASSIGN_OR_RETURN(void* dx, backend.allocate(x.byteSize()));
  auto dy = backend.allocate(result.byteSize());
  if (!dy) {
    backend.release(dx);
    return dy.status();
  }
  const backends::DeviceTensor ins[1] = {{x.dtype(), x.dims(), dx}};
  const backends::DeviceTensor outs[1] = {{outType, outDims, *dy}};
  Status st = backend.copyToDevice(dx, x.data(), x.byteSize(), nullptr);
  if (st.isOk()) st = kernel->run(ins, outs, nullptr, nullptr);
  if (st.isOk()) st = backend.copyToHost(result.data(), *dy, result.byteSize(), nullptr);
  if (st.isOk()) st = backend.synchronize(nullptr);
  backend.release(dx);
  backend.release(*dy);
  if (!st.isOk()) return st;
  return result;
}

/// Shape inference + the CPU reference kernel on host memory.
Expected<Tensor> runOnCpu(const ir::Node& proto, const Tensor& x) {
  ir::Graph g;
  ir::Node node = proto;
  node.inputs = {g.addValue("x", x.dtype())};
  node.outputs = {g.addValue("y")};
  const ops::TensorInfo info{x.dtype(), x.dims(), nullptr};
  KILN_ASSIGN_OR_RETURN(auto outInfo, ops::inferOutputs(g, node, std::span<const ops::TensorInfo>(&info, 1)));
  KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::allocate(outInfo[0].dtype, outInfo[0].dims));
  const backends::DeviceTensor in{x.dtype(), x.dims(), const_cast<void*>(x.data())};
  const backends::DeviceTensor out{y.dtype(), y.dims(), y.data()};
  KILN_RETURN_IF_ERROR(backends::cpu::executeNode(g, node, std::span(&in, 1), std::span(&out, 1)));
  return y;
}

class StemKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::haveGpu()) GTEST_SKIP() << "no CUDA device: GPU tests run on the GPU machine (scripts/gpu-check.sh)";
    backends::BackendOptions options;
    options.allowTF32 = false;
    auto cuda = backends::createBackend(DeviceKind::kCuda, options);
    ASSERT_TRUE(cuda.hasValue()) << cuda.status().toString();
    cuda_ = std::move(cuda.value());
  }
  std::unique_ptr<backends::Backend> cuda_;
};

Tensor toHalf(const Tensor& f) {
  Tensor h = *Tensor::allocate(DataType::kFloat16, f.dims());
  for (int64_t i = 0; i < f.elementCount(); ++i) h.dataAs<uint16_t>()[i] = floatToHalfBits(f.dataAs<float>()[i]);
  return h;
}
Tensor toFloat(const Tensor& h) {
  Tensor f = *Tensor::allocate(DataType::kFloat32, h.dims());
  for (int64_t i = 0; i < h.elementCount(); ++i) f.dataAs<float>()[i] = halfBitsToFloat(h.dataAs<uint16_t>()[i]);
  return f;
}

TEST_F(StemKernels, PackedSpaceToDepthMatchesCpuExactly) {
  struct Case {
    Dims x;
    int64_t block;
    std::vector<int64_t> pads;
    std::string format;
    int64_t oc;
  };
  const Case cases[] = {
      {{2, 3, 37, 53}, 2, {3, 3, 4, 4}, "NHWC", 16},  // the 7x7/s2/p3 stem's packing: 16-byte vector path
      {{3, 3, 224, 224}, 2, {3, 3, 3, 3}, "NHWC", 16},
      {{1, 1, 5, 7}, 2, {1, 1, 0, 0}, "NHWC", 8},
      {{2, 2, 15, 12}, 2, {1, 2, 2, 2}, "NHWC", 24},  // a zero vector past the data channels
      {{1, 4, 9, 10}, 2, {1, 0, 0, 0}, "NHWC", 16},
      {{2, 1, 6, 6}, 2, {0, 0, 0, 0}, "NHWC", 8},
      {{2, 3, 11, 13}, 2, {2, 1, 1, 2}, "NHWC", 13},  // scalar path: 13 channels
      {{3, 2, 9, 4}, 2, {0, 1, 1, 1}, "NCHW", 8},
      {{1, 2, 7, 5}, 3, {2, 0, 0, 1}, "NHWC", 24},
  };
  std::mt19937 rng(5);
  for (const Case& c : cases)
    for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
      SCOPED_TRACE(dimsToString(c.x) + " " + c.format + " " + dataTypeName(type));
      ir::Node node;
      node.name = "pack";
      node.op = OpKind::kSpaceToDepth;
      node.attrs.set("blocksize", c.block);
      node.attrs.set("pads", c.pads);
      node.attrs.set("data_format", c.format);
      node.attrs.set("output_channels", c.oc);
      Tensor x = randomTensor(c.x, rng, 2.f);
      if (type == DataType::kFloat16) x = toHalf(x);
      auto want = runOnCpu(node, x);
      ASSERT_TRUE(want.hasValue()) << want.status().toString();
      auto got = runOnBackend(*cuda_, node, x, want->dims(), type);
      ASSERT_TRUE(got.hasValue()) << got.status().toString();
      ASSERT_EQ(got->byteSize(), want->byteSize());
      EXPECT_EQ(std::memcmp(got->data(), want->data(), want->byteSize()), 0);
    }
}

/// [A, B, C, D] -> [A, D, B, C] (NHWC -> NCHW) or back.
Tensor permute(const Tensor& t, bool toChannelsFirst) {
  const Dims& d = t.dims();
  const int64_t n = d[0], c = toChannelsFirst ? d[3] : d[1], h = toChannelsFirst ? d[1] : d[2],
                w = toChannelsFirst ? d[2] : d[3];
  Tensor r = *Tensor::allocate(t.dtype(), toChannelsFirst ? Dims{n, c, h, w} : Dims{n, h, w, c});
  const size_t e = dataTypeSize(t.dtype());
  for (int64_t a = 0; a < n; ++a)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const int64_t first = ((a * c + k) * h + y) * w + x, last = ((a * h + y) * w + x) * c + k;
          const int64_t from = toChannelsFirst ? last : first, to = toChannelsFirst ? first : last;
          std::memcpy(static_cast<std::byte*>(r.data()) + to * e, static_cast<const std::byte*>(t.data()) + from * e,
                      e);
        }
  return r;
}

void checkNhwcPool(backends::Backend& cuda, OpKind op, int64_t channels, std::vector<int64_t> strides,
                   std::vector<int64_t> pads, std::vector<int64_t> dilations, bool withNaN) {
  SCOPED_TRACE(std::string(ir::opKindName(op)) + " C=" + std::to_string(channels));
  std::mt19937 rng(static_cast<uint32_t>(channels * 7 + strides[0]));
  // float16-rounded values in NHWC; a few NaNs where asked.
  Tensor xh = toHalf(randomTensor({2, 17, 23, channels}, rng, 3.f));
  if (withNaN)
    for (int64_t i = 5; i < xh.elementCount(); i += 97) xh.dataAs<uint16_t>()[i] = 0x7e00;
  ir::Node node;
  node.name = "pool";
  node.op = op;
  node.attrs.set("kernel_shape", std::vector<int64_t>{3, 3});
  node.attrs.set("strides", strides);
  node.attrs.set("pads", pads);
  node.attrs.set("dilations", dilations);
  auto ref = runOnCpu(node, permute(toFloat(xh), true));
  ASSERT_TRUE(ref.hasValue()) << ref.status().toString();
  const Tensor want = permute(*ref, false);
  node.attrs.set("data_format", std::string("NHWC"));
  auto got = runOnBackend(cuda, node, xh, want.dims(), DataType::kFloat16);
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  int bad = 0;
  for (int64_t i = 0; i < want.elementCount(); ++i) {
    const float w = want.dataAs<float>()[i], g = halfBitsToFloat(got->dataAs<uint16_t>()[i]);
    const bool ok = op == OpKind::kMaxPool ? (w == g || (std::isnan(w) && std::isnan(g)))
                                           : std::fabs(w - g) <= 1e-3f * std::fabs(w) + 1e-3f;
    if (!ok && bad++ < 5) ADD_FAILURE() << "element " << i << ": cpu " << w << ", cuda " << g;
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(StemKernels, NhwcMaxPoolFp16MatchesCpuAtEveryVectorWidth) {
  for (int64_t c : {64, 12, 6, 3}) {
    checkNhwcPool(*cuda_, OpKind::kMaxPool, c, {2, 2}, {1, 1, 1, 1}, {1, 1}, true);
    checkNhwcPool(*cuda_, OpKind::kMaxPool, c, {1, 1}, {2, 1, 0, 2}, {2, 1}, true);
  }
}

TEST_F(StemKernels, NhwcAveragePoolFp16MatchesCpuAtEveryVectorWidth) {
  for (int64_t c : {64, 12, 6, 3}) checkNhwcPool(*cuda_, OpKind::kAveragePool, c, {2, 2}, {1, 1, 1, 1}, {1, 1}, false);
}

}  // namespace
}  // namespace kiln

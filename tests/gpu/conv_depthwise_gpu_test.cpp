// kiln's own NHWC depthwise conv kernel (backends/cuda/conv_depthwise.h).
//  - DepthwiseKernel.EveryTacticMatchesFloat64: every tactic the tuner would race, run directly, against a direct
//    float64 convolution written here (its own loops and activation formulas, not the kernel's or the answer
//    check's), at odd H/W, C = 3, 8, 17, 20, 40, 96, 144, 960 (vector and scalar channel paths), 3x3 / 5x5 / 7x7,
//    stride 1 and 2, symmetric, asymmetric, SAME_UPPER/SAME_LOWER and VALID padding, inputs smaller than the kernel,
//    with and without bias, every fused activation with and without a residual, float32 / float16 / bfloat16.
//    Inputs are rounded to the type on the host first, so both sides see the same numbers and the error is the
//    kernel's own (float32 accumulation, output rounding). Per element, with scale = max |reference| of the case:
//      float32  |got - ref| <= 1e-5 |ref| + 2e-5 scale
//      float16  |got - ref| <= 2^-10 |ref| + 2e-4 scale   (twice float16's unit roundoff, plus accumulation)
//      bfloat16 |got - ref| <= 2^-7 |ref| + 1e-3 scale
//    The output buffer starts as NaN bits, so an element the kernel does not write fails.
//  - DepthwiseKernel.MisalignedPointersTakeTheScalarPath: a vector-width C with X one element off 16-byte alignment.
//  - DepthwiseKernel.TunerAnswerCheckAcceptsEveryTactic: conv_tactic_check.h judges every tactic accurate.
//  - DepthwiseQualifies.*: which nodes the kernel refuses (CPU only: runs without a GPU too).
//  - DepthwiseEngine.*: MobileNetV2 / V3 / EfficientNet blocks (unit/cnn_block_graphs.h) built by the normal builder
//    for CUDA in FP16 and BF16 against the CPU backend's FP32 engine (cosine >= 0.999, max abs error <= 2e-2 of the
//    reference's scale, as cnn_block_engines_gpu_test.cpp), once as tuned and once with every depthwise conv's
//    tactic rewritten to each kiln-dw tactic; the per-layer profile must then name kiln-dw for those layers.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <set>

#include "backends/cuda/conv_depthwise.h"
#include "backends/cuda/conv_tactic_check.h"
#include "core/half.h"
#include "engine/engine_file.h"
#include "gpu/cnn_block_gpu_util.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "test_util/gpu.h"

namespace kiln {
namespace {

using backends::DeviceTensor;
using ir::OpKind;

// ---- the float64 reference

struct Geometry {
  int64_t n, h, w, c, k, stride;
  std::vector<int64_t> pads;  // [top, left, bottom, right]; ignored unless autoPad is NOTSET
  std::string autoPad = "NOTSET";
  bool bias = true;

  /// Zeros before the first row (axis 0) or column (axis 1), and the output size, by ONNX's rules.
  int64_t padBefore(int axis) const {
    const int64_t in = axis == 0 ? h : w;
    if (autoPad == "VALID") return 0;
    if (autoPad == "NOTSET") return pads[static_cast<size_t>(axis)];
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>(0, (out - 1) * stride + k - in);
    return autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
  }
  int64_t outSize(int axis) const {
    const int64_t in = axis == 0 ? h : w;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") return (in + stride - 1) / stride;
    const int64_t extra = autoPad == "VALID" ? 0 : pads[static_cast<size_t>(axis)] + pads[static_cast<size_t>(axis) + 2];
    return (in + extra - k) / stride + 1;
  }
  Dims xDims() const { return {n, h, w, c}; }
  Dims yDims() const { return {n, outSize(0), outSize(1), c}; }
  std::string label() const {
    std::string s = "N" + std::to_string(n) + " " + std::to_string(h) + "x" + std::to_string(w) + " C" +
                    std::to_string(c) + " k" + std::to_string(k) + " s" + std::to_string(stride) + " " + autoPad;
    if (autoPad == "NOTSET")
      s += " pads " + std::to_string(pads[0]) + "," + std::to_string(pads[1]) + "," + std::to_string(pads[2]) + "," +
           std::to_string(pads[3]);
    return s + (bias ? "" : " no bias");
  }
};

/// y[n,p,q,c] = sum_{r,s} x[n, p*stride - top + r, q*stride - left + s, c] * w[c, r, s] (+ bias[c]), in float64.
std::vector<double> referenceConv(const Geometry& g, const std::vector<float>& x, const std::vector<float>& w,
                                  const std::vector<float>& bias) {
  const int64_t P = g.outSize(0), Q = g.outSize(1), top = g.padBefore(0), left = g.padBefore(1);
  std::vector<double> y(static_cast<size_t>(g.n * P * Q * g.c));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t c = 0; c < g.c; ++c) {
          double sum = g.bias ? bias[static_cast<size_t>(c)] : 0.0;
          for (int64_t r = 0; r < g.k; ++r)
            for (int64_t s = 0; s < g.k; ++s) {
              const int64_t ih = p * g.stride - top + r, iw = q * g.stride - left + s;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              sum += static_cast<double>(x[static_cast<size_t>(((n * g.h + ih) * g.w + iw) * g.c + c)]) *
                     w[static_cast<size_t>((c * g.k + r) * g.k + s)];
            }
          y[static_cast<size_t>(((n * P + p) * Q + q) * g.c + c)] = sum;
        }
  return y;
}

/// A fused activation: the node attributes the fusion pass writes, and its formula in float64.
struct Activation {
  std::string name;  // "" = none
  std::vector<std::pair<std::string, float>> params;
  std::function<double(double)> f;
};

std::vector<Activation> activations() {
  const double pi = 3.14159265358979323846;
  return {
      {"", {}, [](double v) { return v; }},
      {"Relu", {}, [](double v) { return v > 0 ? v : 0.0; }},
      {"Clip", {{"activation_min", 0.f}, {"activation_max", 1.5f}}, [](double v) { return std::min(std::max(v, 0.0), 1.5); }},
      {"Clip", {{"activation_min", -0.4f}, {"activation_max", 0.6f}}, [](double v) { return std::min(std::max(v, -0.4), 0.6); }},
      {"HardSwish", {}, [](double v) { return v * std::min(1.0, std::max(0.0, v / 6 + 0.5)); }},
      {"Silu", {}, [](double v) { return v / (1 + std::exp(-v)); }},
      {"Sigmoid", {}, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"HardSigmoid", {{"activation_alpha", 1.f / 6.f}, {"activation_beta", 0.5f}},
       [](double v) { return std::min(1.0, std::max(0.0, static_cast<double>(1.f / 6.f) * v + 0.5)); }},
      {"LeakyRelu", {{"activation_alpha", 0.1f}}, [](double v) { return v < 0 ? static_cast<double>(0.1f) * v : v; }},
      {"Tanh", {}, [](double v) { return std::tanh(v); }},
      {"Elu", {{"activation_alpha", 0.7f}}, [](double v) { return v < 0 ? static_cast<double>(0.7f) * std::expm1(v) : v; }},
      {"Gelu", {}, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {"GeluTanh", {}, [pi](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / pi) * (v + 0.044715 * v * v * v))); }},
  };
}

// ---- host tensors in a type

/// Uniform in [-scale, scale], away from zero, rounded to `type` (the returned floats are the rounded values).
std::vector<float> randomValues(size_t count, std::mt19937& rng, float scale, DataType type) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(count);
  for (float& e : v) {
    float u = dist(rng);
    if (std::fabs(u) < 1e-2f) u = 0.5f;
    e = u * scale;
    if (type == DataType::kFloat16) e = halfBitsToFloat(floatToHalfBits(e));
    if (type == DataType::kBFloat16) e = bfloat16BitsToFloat(floatToBfloat16Bits(e));
  }
  return v;
}

Tensor toTensor(const std::vector<float>& values, const Dims& dims, DataType type) {
  Tensor t = Tensor::allocate(type, dims).value();
  for (size_t i = 0; i < values.size(); ++i) {
    if (type == DataType::kFloat16) t.dataAs<uint16_t>()[i] = floatToHalfBits(values[i]);
    else if (type == DataType::kBFloat16) t.dataAs<uint16_t>()[i] = floatToBfloat16Bits(values[i]);
    else t.dataAs<float>()[i] = values[i];
  }
  return t;
}

/// One NHWC depthwise Conv node as the passes leave it: KRSC weights [C,K,K,1], bias, optional residual (input 3),
/// the activation attributes.
ir::Graph makeNodeGraph(const Geometry& g, DataType type, const Activation& act, bool residual, const Tensor& w,
                        const Tensor& bias) {
  ir::Graph graph;
  const auto tensorValue = [&](const std::string& name, const Dims& dims) {
    const ir::ValueId id = graph.addValue(name, type);
    graph.values[id].rankKnown = true;
    graph.values[id].dims = dims;
    return id;
  };
  ir::Node node;
  node.name = "dw";
  node.op = OpKind::kConv;
  const ir::ValueId x = tensorValue("x", g.xDims());
  graph.inputs.push_back(x);
  const ir::ValueId wv = graph.addConstant("w", w.clone().value());
  graph.values[wv].rankKnown = true;
  graph.values[wv].dims = w.dims();
  graph.values[wv].dtype = type;
  node.inputs = {x, wv};
  if (g.bias || residual) {
    ir::ValueId b = ir::kNoValue;
    if (g.bias) {
      b = graph.addConstant("b", bias.clone().value());
      graph.values[b].rankKnown = true;
      graph.values[b].dims = bias.dims();
      graph.values[b].dtype = type;
    }
    node.inputs.push_back(b);
  }
  if (residual) {
    const ir::ValueId z = tensorValue("z", g.yDims());
    graph.inputs.push_back(z);
    node.inputs.push_back(z);
  }
  const ir::ValueId y = tensorValue("y", g.yDims());
  node.outputs = {y};
  graph.outputs.push_back(y);
  auto& a = node.attrs;
  a.set("kernel_shape", std::vector<int64_t>{g.k, g.k});
  a.set("strides", std::vector<int64_t>{g.stride, g.stride});
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("group", g.c);
  a.set("data_format", std::string("NHWC"));
  if (g.autoPad == "NOTSET") a.set("pads", g.pads);
  else a.set("auto_pad", g.autoPad);
  const std::string name = act.name.empty() && residual ? "Identity" : act.name;
  if (!name.empty()) a.set("activation", name);
  for (const auto& [key, value] : act.params) a.set(key, value);
  graph.nodes.push_back(std::move(node));
  return graph;
}

// ---- device buffers

class DeviceBuffers {
 public:
  ~DeviceBuffers() {
    for (void* p : owned_) cudaFree(p);
  }
  void* upload(const Tensor& t, size_t offsetBytes = 0) {
    void* p = allocate(t.byteSize() + offsetBytes);
    if (!p) return nullptr;
    char* at = static_cast<char*>(p) + offsetBytes;
    if (cudaMemcpy(at, t.data(), t.byteSize(), cudaMemcpyHostToDevice) != cudaSuccess) return nullptr;
    return at;
  }
  void* allocate(size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(bytes, 256)) != cudaSuccess) return nullptr;
    owned_.push_back(p);
    return p;
  }

 private:
  std::vector<void*> owned_;
};

struct Tolerance {
  double relative, absolute;
};
Tolerance toleranceFor(DataType t) {
  if (t == DataType::kFloat16) return {std::ldexp(1.0, -10), 2e-4};
  if (t == DataType::kBFloat16) return {std::ldexp(1.0, -7), 1e-3};
  return {1e-5, 2e-5};
}

/// Runs `kernel` with output `y` (device, NaN-filled first) and compares it with `want` element by element.
void runAndCompare(const backends::Kernel& kernel, std::span<const DeviceTensor> in, const DeviceTensor& y,
                   const std::vector<double>& want, DataType type, const std::string& label) {
  const size_t bytes = static_cast<size_t>(y.elementCount()) * dataTypeSize(type);
  ASSERT_EQ(cudaMemset(y.data, 0xff, bytes), cudaSuccess);
  const DeviceTensor out[1] = {y};
  EXPECT_EQ(kernel.workspaceBytes(in, out), 0u) << label;
  const Status ran = kernel.run(in, out, nullptr, nullptr);
  ASSERT_TRUE(ran.isOk()) << label << ": " << ran.toString();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << label << " (" << kernel.tactic() << ")";
  Tensor got = Tensor::allocate(type, y.dims).value();
  ASSERT_EQ(cudaMemcpy(got.data(), y.data, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  const Tolerance tol = toleranceFor(type);
  int64_t bad = 0, firstBad = -1;
  double worst = 0;
  for (int64_t i = 0; i < got.elementCount(); ++i) {
    const double a = test::elementAsDouble(got, i), b = want[static_cast<size_t>(i)];
    const double err = std::fabs(a - b), bound = tol.relative * std::fabs(b) + tol.absolute * scale;
    if (!(err <= bound)) {  // NaN fails too
      if (firstBad < 0) firstBad = i;
      ++bad;
    }
    if (std::isfinite(err)) worst = std::max(worst, err / std::max(bound, 1e-30));
  }
  EXPECT_EQ(bad, 0) << label << " (" << kernel.tactic() << "): " << bad << " of " << got.elementCount()
                    << " elements off, first at " << firstBad << ": got "
                    << (firstBad >= 0 ? test::elementAsDouble(got, firstBad) : 0.0) << ", want "
                    << (firstBad >= 0 ? want[static_cast<size_t>(firstBad)] : 0.0) << "; scale " << scale;
  if (bad == 0 && worst > 0.5)
    std::printf("[  NOTE    ] %s (%s): worst error %.2f of the bound\n", label.c_str(), kernel.tactic().c_str(), worst);
}

std::vector<Geometry> geometries() {
  return {
      {2, 7, 9, 3, 3, 1, {1, 1, 1, 1}},
      {1, 13, 11, 8, 3, 2, {1, 1, 1, 1}},
      {3, 10, 15, 17, 5, 1, {2, 2, 2, 2}},
      {2, 17, 9, 96, 3, 2, {0, 0, 1, 1}},     // TF-style SAME: the odd pad after
      {1, 14, 14, 144, 5, 2, {2, 2, 2, 2}},
      {2, 9, 11, 960, 3, 1, {1, 1, 1, 1}},
      {1, 7, 7, 960, 5, 1, {2, 2, 2, 2}, "NOTSET", false},
      {1, 15, 13, 40, 7, 1, {3, 3, 3, 3}},    // ConvNeXt's 7x7
      {2, 8, 9, 24, 7, 2, {3, 3, 3, 3}},
      {1, 9, 10, 32, 3, 2, {}, "SAME_UPPER"},
      {1, 10, 9, 20, 5, 2, {}, "SAME_LOWER"},
      {2, 6, 5, 16, 5, 2, {}, "VALID"},
      {1, 2, 3, 16, 5, 1, {2, 2, 2, 2}},      // input smaller than the kernel
      {1, 5, 6, 8, 3, 1, {0, 2, 1, 0}, "NOTSET", false},  // asymmetric, no bias
  };
}

class DepthwiseKernel : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_GPU(); }
  backends::cuda::CudaContext ctx_;  // the depthwise kernel uses no library handle
};

TEST_F(DepthwiseKernel, EveryTacticMatchesFloat64) {
  using namespace backends::cuda;
  const auto acts = activations();
  uint32_t seed = 1;
  for (const Geometry& g : geometries())
    for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
      const std::string base = g.label() + " " + dataTypeName(type);
      std::mt19937 rng(seed++);
      const Dims xd = g.xDims(), yd = g.yDims(), wd{g.c, g.k, g.k, 1};
      const auto xv = randomValues(static_cast<size_t>(elementCount(xd)), rng, 3.f, type);
      const auto wv = randomValues(static_cast<size_t>(elementCount(wd)), rng, 1.2f / static_cast<float>(g.k), type);
      const auto bv = randomValues(static_cast<size_t>(g.c), rng, 0.5f, type);
      const auto zv = randomValues(static_cast<size_t>(elementCount(yd)), rng, 1.f, type);
      const Tensor xt = toTensor(xv, xd, type), wt = toTensor(wv, wd, type), bt = toTensor(bv, {g.c}, type),
                   zt = toTensor(zv, yd, type);
      const std::vector<double> conv = referenceConv(g, xv, wv, bv);
      DeviceBuffers buffers;
      void *x = buffers.upload(xt), *w = buffers.upload(wt), *b = buffers.upload(bt), *z = buffers.upload(zt);
      void* y = buffers.allocate(static_cast<size_t>(elementCount(yd)) * dataTypeSize(type));
      ASSERT_TRUE(x && w && b && z && y) << base;
      for (const Activation& act : acts)
        for (const bool residual : {false, true}) {
          const std::string label = base + " act '" + act.name + "'" + (residual ? " + residual" : "");
          const ir::Graph graph = makeNodeGraph(g, type, act, residual, wt, bt);
          const ir::Node& node = graph.nodes[0];
          const Status qualifies = depthwiseConvQualifies(graph, node);
          ASSERT_TRUE(qualifies.isOk()) << label << ": " << qualifies.toString();
          std::vector<double> want(conv.size());
          for (size_t i = 0; i < want.size(); ++i) want[i] = act.f(conv[i] + (residual ? zv[i] : 0.0));
          std::vector<DeviceTensor> in{{type, xd, x}, {type, wd, w}};
          if (g.bias || residual) in.push_back(g.bias ? DeviceTensor{type, {g.c}, b} : DeviceTensor{});
          if (residual) in.push_back({type, yd, z});
          const auto tactics = depthwiseConvTactics(in);
          ASSERT_FALSE(tactics.empty()) << label;
          for (const std::string& tactic : tactics) {
            auto kernel = makeDepthwiseConvKernel(ctx_, graph, node, tactic);
            ASSERT_TRUE(kernel.hasValue()) << label << " " << tactic << ": " << kernel.status().toString();
            EXPECT_EQ((*kernel)->tactic().rfind(tactic + " depthwise", 0), 0u) << (*kernel)->tactic();
            runAndCompare(**kernel, in, {type, yd, y}, want, type, label + " " + tactic);
            if (HasFatalFailure()) return;
          }
        }
    }
}

TEST_F(DepthwiseKernel, MisalignedPointersTakeTheScalarPath) {
  using namespace backends::cuda;
  const Geometry g{2, 9, 7, 32, 3, 1, {1, 1, 1, 1}};
  for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
    std::mt19937 rng(99);
    const Dims xd = g.xDims(), yd = g.yDims(), wd{g.c, g.k, g.k, 1};
    const auto xv = randomValues(static_cast<size_t>(elementCount(xd)), rng, 2.f, type);
    const auto wv = randomValues(static_cast<size_t>(elementCount(wd)), rng, 0.4f, type);
    const auto bv = randomValues(static_cast<size_t>(g.c), rng, 0.5f, type);
    const Tensor xt = toTensor(xv, xd, type), wt = toTensor(wv, wd, type), bt = toTensor(bv, {g.c}, type);
    const Activation relu = activations()[1];
    const std::vector<double> conv = referenceConv(g, xv, wv, bv);
    std::vector<double> want(conv.size());
    for (size_t i = 0; i < want.size(); ++i) want[i] = relu.f(conv[i]);
    DeviceBuffers buffers;
    const size_t element = dataTypeSize(type);
    void *x = buffers.upload(xt, element), *w = buffers.upload(wt), *b = buffers.upload(bt);
    void* y = static_cast<char*>(buffers.allocate((static_cast<size_t>(elementCount(yd)) + 1) * element)) + element;
    ASSERT_TRUE(x && w && b) << dataTypeName(type);
    const ir::Graph graph = makeNodeGraph(g, type, relu, false, wt, bt);
    const std::vector<DeviceTensor> in{{type, xd, x}, {type, wd, w}, {type, {g.c}, b}};
    for (const std::string& tactic : depthwiseConvTactics(in)) {
      auto kernel = makeDepthwiseConvKernel(ctx_, graph, graph.nodes[0], tactic);
      ASSERT_TRUE(kernel.hasValue()) << kernel.status().toString();
      runAndCompare(**kernel, in, {type, yd, y}, want, type, std::string("misaligned X and Y ") + dataTypeName(type));
    }
  }
}

TEST_F(DepthwiseKernel, TunerAnswerCheckAcceptsEveryTactic) {
  using namespace backends::cuda;
  const auto acts = activations();
  for (const Geometry& g : {Geometry{2, 15, 15, 96, 3, 2, {0, 0, 1, 1}}, Geometry{1, 13, 9, 144, 5, 1, {2, 2, 2, 2}},
                            Geometry{2, 9, 9, 17, 7, 1, {3, 3, 3, 3}}})
    for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16})
      for (const size_t a : {size_t{2}, size_t{4}, size_t{5}}) {  // relu6-like Clip, HardSwish, Silu
        const Tensor wt = Tensor::allocate(type, {g.c, g.k, g.k, 1}).value(), bt = Tensor::allocate(type, {g.c}).value();
        const ir::Graph graph = makeNodeGraph(g, type, acts[a], a == 5, wt, bt);
        std::vector<DeviceTensor> in{{type, g.xDims()}, {type, {g.c, g.k, g.k, 1}}, {type, {g.c}}};
        if (a == 5) in.push_back({type, g.yDims()});
        const DeviceTensor out[1] = {{type, g.yDims()}};
        std::vector<std::unique_ptr<backends::Kernel>> kernels;
        std::vector<RaceEntrant> entrants;
        for (const std::string& t : depthwiseConvTactics(in)) {
          auto kernel = makeDepthwiseConvKernel(ctx_, graph, graph.nodes[0], t);
          ASSERT_TRUE(kernel.hasValue()) << kernel.status().toString();
          kernels.push_back(std::move(*kernel));
          entrants.push_back({t, kernels.back().get()});
        }
        ctx_.options.allowTF32 = false;  // strict float32 tolerance for the float32 case
        auto check = checkConvEntrants(ctx_, graph, graph.nodes[0], in, out, entrants);
        ASSERT_TRUE(check.hasValue()) << check.status().toString();
        const std::string label = g.label() + " " + dataTypeName(type) + " " + acts[a].name;
        ASSERT_TRUE(check->checked) << label << ": the answer check did not run";
        for (size_t e = 0; e < entrants.size(); ++e)
          EXPECT_TRUE(check->accurate[e]) << label << " " << entrants[e].tactic << ": " << check->notes[e];
      }
}

// ---- which nodes the kernel takes (no GPU needed)

TEST(DepthwiseQualifies, RefusesWhatItDoesNotRun) {
  using backends::cuda::depthwiseConvQualifies;
  const Geometry g{1, 9, 9, 16, 3, 1, {1, 1, 1, 1}};
  const DataType type = DataType::kFloat16;
  const Tensor w = Tensor::allocate(type, {g.c, g.k, g.k, 1}).value(), b = Tensor::allocate(type, {g.c}).value();
  const Activation none = activations()[0];
  {
    const ir::Graph graph = makeNodeGraph(g, type, none, false, w, b);
    EXPECT_TRUE(depthwiseConvQualifies(graph, graph.nodes[0]).isOk());
  }
  const auto refused = [&](const std::function<void(ir::Graph&)>& change, const char* why) {
    ir::Graph graph = makeNodeGraph(g, type, none, false, w, b);
    change(graph);
    const Status s = depthwiseConvQualifies(graph, graph.nodes[0]);
    EXPECT_FALSE(s.isOk()) << why;
    if (!s.isOk()) EXPECT_NE(s.message().find("'dw'"), std::string::npos) << why << ": " << s.message();
  };
  refused([](ir::Graph& gr) { gr.nodes[0].attrs.set("dilations", std::vector<int64_t>{2, 2}); }, "dilation 2");
  refused([](ir::Graph& gr) { gr.nodes[0].attrs.set("strides", std::vector<int64_t>{3, 3}); }, "stride 3");
  refused([](ir::Graph& gr) { gr.nodes[0].attrs.set("strides", std::vector<int64_t>{1, 2}); }, "unequal strides");
  refused([](ir::Graph& gr) { gr.nodes[0].attrs.set("data_format", std::string("NCHW")); }, "NCHW");
  refused([](ir::Graph& gr) { gr.nodes[0].attrs.set("group", int64_t{8}); }, "group 8 of 16 channels");
  refused([](ir::Graph& gr) { gr.nodes[0].attrs.set("activation", std::string("Softsign")); }, "unknown activation");
  refused([](ir::Graph& gr) { gr.nodes[0].attrs.set("pads", std::vector<int64_t>{-1, 0, 0, 0}); }, "negative pads");
  refused([](ir::Graph& gr) { gr.values[gr.nodes[0].inputs[1]].dims = {16, 4, 4, 1}; }, "4x4 kernel");
  refused([](ir::Graph& gr) { gr.values[gr.nodes[0].inputs[1]].dims = {16, 3, 5, 1}; }, "3x5 kernel");
  refused([](ir::Graph& gr) { gr.values[gr.nodes[0].inputs[1]].dims = {32, 3, 3, 1}; }, "channel multiplier 2");
  refused([](ir::Graph& gr) { gr.values[gr.nodes[0].inputs[0]].dtype = DataType::kFloat32; }, "mixed types");
}

TEST(DepthwiseQualifies, TacticsAreDistinctAndNamed) {
  for (const int64_t c : {3, 8, 17, 96, 960})
    for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
      const std::vector<DeviceTensor> in{{type, {1, 9, 9, c}}};
      const auto tactics = backends::cuda::depthwiseConvTactics(in);
      ASSERT_FALSE(tactics.empty());
      std::set<std::string> distinct(tactics.begin(), tactics.end());
      EXPECT_EQ(distinct.size(), tactics.size());
      for (const std::string& t : tactics) {
        EXPECT_EQ(t.rfind(backends::cuda::kDepthwiseTacticPrefix, 0), 0u) << t;
        EXPECT_EQ(t.find(';'), std::string::npos) << t << ": ';' separates per-batch tactics";
      }
    }
}

/// The CUDA passes (channels-last, fused epilogues) leave every depthwise conv of the blocks in a form the kernel
/// takes, so the tuner races it there.
TEST(DepthwiseQualifies, TakesEveryDepthwiseConvOfTheBlocks) {
  using namespace cnnblocks;
  int taken = 0;
  for (Block& block : allBlocks(kBatch, kSize)) {
    const Status passes = runCudaPasses(block.graph);
    ASSERT_TRUE(passes.isOk()) << block.name << ": " << passes.toString();
    for (const ir::Node& n : block.graph.nodes) {
      if (n.op != OpKind::kConv || n.attrs.getInt("group", 1) == 1) continue;
      const ir::Value& w = block.graph.values[n.inputs[1]];
      const bool depthwise = w.rankKnown && w.dims.size() == 4 && w.dims[3] == 1;  // KRSC [C, K, K, C / group]
      const Status s = backends::cuda::depthwiseConvQualifies(block.graph, n);
      EXPECT_EQ(s.isOk(), depthwise) << block.name << " " << n.name << ": " << s.message();
      taken += s.isOk() ? 1 : 0;
    }
  }
  std::printf("[  INFO    ] %d depthwise convs taken\n", taken);
  EXPECT_GE(taken, 10) << "the blocks hold 16 depthwise convs";
}

// ---- whole blocks through the builder

Expected<std::vector<std::byte>> buildPlan(const ir::Graph& g, DeviceKind device, DataType narrow) {
  auto graph = std::make_unique<ir::Graph>(g);
  const ir::ValueId x = graph->inputs[0];
  graph->values[x].dims[0] = kDynamicDim;
  Network network(std::move(graph));
  BuilderConfig config;
  config.device = device;
  config.disallow(Precision::kTF32);
  if (narrow == DataType::kFloat16) config.allow(Precision::kFP16);
  if (narrow == DataType::kBFloat16) config.allow(Precision::kBF16);
  config.accuracyGuard = false;  // a wrong narrow kernel must show here, not be promoted to FP32
  Dims lo = g.values[x].dims, opt = lo, hi = lo;
  lo[0] = 1, opt[0] = 4, hi[0] = 8;
  OptimizationProfile profile;
  profile.inputs.push_back({g.values[x].name, lo, opt, hi});
  config.addProfile(profile);
  return buildEngine(network, config);
}

class DepthwiseEngine : public ::testing::TestWithParam<std::string> {};

TEST_P(DepthwiseEngine, MatchesCpuTunedAndWithEachOwnTactic) {
  REQUIRE_GPU();
  using namespace cnnblocks;
  auto blocks = allBlocks(kBatch, kSize);
  const Block* block = nullptr;
  for (const Block& b : blocks)
    if (b.name == GetParam()) block = &b;
  ASSERT_NE(block, nullptr) << "no block named " << GetParam() << " in unit/cnn_block_graphs.h";
  auto cpuPlan = buildPlan(block->graph, DeviceKind::kCpu, DataType::kUndefined);
  ASSERT_TRUE(cpuPlan.hasValue()) << cpuPlan.status().toString();
  auto cpu = Engine::loadFromMemory(cpuPlan->data(), cpuPlan->size());
  ASSERT_TRUE(cpu.hasValue()) << cpu.status().toString();
  auto cpuContext = std::move((*cpu)->createContext(0).value());
  const ir::ValueId x = block->graph.inputs[0];
  const std::string input = block->graph.values[x].name;
  for (DataType narrow : {DataType::kFloat16, DataType::kBFloat16}) {
    auto tuned = buildPlan(block->graph, DeviceKind::kCuda, narrow);
    ASSERT_TRUE(tuned.hasValue()) << block->name << ": " << tuned.status().toString();
    auto model = engine::readEngine(tuned->data(), tuned->size());
    ASSERT_TRUE(model.hasValue()) << model.status().toString();
    std::vector<size_t> depthwise;
    for (size_t i = 0; i < model->graph.nodes.size(); ++i)
      if (backends::cuda::depthwiseConvQualifies(model->graph, model->graph.nodes[i]).isOk()) depthwise.push_back(i);
    ASSERT_FALSE(depthwise.empty()) << block->name << ": no depthwise conv the kernel takes";
    const std::vector<DeviceTensor> shapes{{narrow, {1, kSize, kSize, 96}}};
    std::vector<std::string> variants{""};  // "" = as tuned
    for (const std::string& t : backends::cuda::depthwiseConvTactics(shapes)) variants.push_back(t);
    for (const std::string& tactic : variants) {
      const std::string label = block->name + " " + dataTypeName(narrow) + " " + (tactic.empty() ? "tuned" : tactic);
      std::vector<std::byte> plan = *tuned;
      if (!tactic.empty()) {
        engine::EngineModel forced = *model;
        for (size_t i : depthwise) forced.tactics[i] = tactic;
        auto bytes = engine::writeEngine(forced);
        ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
        plan = std::move(*bytes);
      }
      auto gpu = Engine::loadFromMemory(plan.data(), plan.size());
      ASSERT_TRUE(gpu.hasValue()) << label << ": " << gpu.status().toString();
      auto gpuContext = std::move((*gpu)->createContext(0).value());
      for (int64_t batch : {1, 3}) {
        Dims dims = block->graph.values[x].dims;
        dims[0] = batch;
        const std::map<std::string, Tensor> in{
            {input, fusedtest::randomTensor(DataType::kFloat32, dims, 700u + static_cast<uint32_t>(batch), -1.5, 1.5)}};
        auto want = cpuContext->infer(in);
        auto got = gpuContext->infer(in);
        ASSERT_TRUE(want.hasValue()) << want.status().toString();
        ASSERT_TRUE(got.hasValue()) << label << ": " << got.status().toString();
        for (const auto& [name, reference] : *want) {
          ASSERT_TRUE(got->count(name)) << label << ": no output " << name;
          expectClose(statsOf(got->at(name), reference), 0.999, 2e-2, label + " batch " + std::to_string(batch));
        }
      }
      auto layers = gpuContext->profileLayers(nullptr, 1);
      ASSERT_TRUE(layers.hasValue()) << layers.status().toString();
      for (const auto& layer : *layers) {
        const bool isDepthwise = std::any_of(depthwise.begin(), depthwise.end(),
                                             [&](size_t i) { return model->graph.nodes[i].name == layer.name; });
        if (!isDepthwise) continue;
        std::printf("[  LAYER   ] %s: %s %s\n", label.c_str(), layer.name.c_str(), layer.tactic.c_str());
        if (!tactic.empty()) EXPECT_EQ(layer.tactic.rfind(tactic, 0), 0u) << label << " " << layer.name << ": " << layer.tactic;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Blocks, DepthwiseEngine,
                         ::testing::Values("MobileNetV2 blocks (Clip)", "MobileNetV3 blocks", "EfficientNet MBConv blocks",
                                           "dw 3x3 s1 C13 + silu"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id;
                           for (char c : info.param)
                             if (std::isalnum(static_cast<unsigned char>(c))) id += c;
                           return id;
                         });

}  // namespace
}  // namespace kiln

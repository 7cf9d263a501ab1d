// The CUDA backend's NHWC conv-net kernels (data_format="NHWC": X/Y/residual [N,H,W,C], Conv weights KRSC) against
// the CPU backend's NCHW result on the same random non-zero inputs, and cuDNN algorithm tuning (chooseTactic).
// The reference: the CPU backend runs the plain NCHW node (no fused epilogue; the fused bias is an input of the
// plain Conv), the host adds the residual and applies Relu in float64, and the result is transposed to NHWC.
// Tolerances (as in cuda_kernels_gpu_test.cpp):
//   float32 (TF32 off): |cuda - ref| <= 1e-4 * (|ref| + rms(ref)) + 1e-6 per element.
//   float16: inputs rounded to float16 for both sides, the reference computes in float32; cosine similarity >= 0.999
//            and max relative error |d| / (|ref| + rms) <= 2e-2, printed for every case.
// With no GPU the tests print a visible skip. KILN_NHWC_TEST_SELF_CHECK=1 checks the test's own layout plumbing on
// the CPU: the "device" side becomes NHWC -> NCHW -> CPU -> NHWC (float32 only).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "core/half.h"
#include "ops/shape_inference.h"

namespace kiln {
namespace {

using backends::Backend;
using backends::DeviceTensor;
using ir::OpKind;

// ---- float16 on the host: kiln's conversions (core/half.h), round to nearest even.
uint16_t toHalf(float f) { return floatToHalfBits(f); }
float fromHalf(uint16_t h) { return halfBitsToFloat(h); }

/// Values kept as float whatever the element type; float16 tensors hold values already rounded to float16.
struct HostTensor {
  Dims dims;
  std::vector<float> values;
  bool present() const { return !dims.empty() || !values.empty(); }
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

/// [A, B, C, D] -> [A, C, D, B] (NCHW -> NHWC, OIHW -> KRSC) or back with `toChannelsFirst`.
HostTensor permute(const HostTensor& t, bool toChannelsFirst) {
  const Dims& d = t.dims;
  HostTensor r;
  r.dims = toChannelsFirst ? Dims{d[0], d[3], d[1], d[2]} : Dims{d[0], d[2], d[3], d[1]};
  r.values.resize(t.values.size());
  // Index the channels-first form [n, c, h, w] and its channels-last twin [n, h, w, c].
  const int64_t n = d[0], c = toChannelsFirst ? d[3] : d[1], h = toChannelsFirst ? d[1] : d[2],
                w = toChannelsFirst ? d[2] : d[3];
  for (int64_t a = 0; a < n; ++a)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const size_t first = static_cast<size_t>(((a * c + k) * h + y) * w + x);
          const size_t last = static_cast<size_t>(((a * h + y) * w + x) * c + k);
          if (toChannelsFirst) r.values[first] = t.values[last];
          else r.values[last] = t.values[first];
        }
  return r;
}
HostTensor toNhwc(const HostTensor& t) { return permute(t, false); }
HostTensor toNchw(const HostTensor& t) { return permute(t, true); }

Tensor toTensor(const HostTensor& t, DataType type) {
  Tensor r = Tensor::allocate(type, t.dims).value();
  for (size_t i = 0; i < t.values.size(); ++i) {
    if (type == DataType::kFloat16) r.dataAs<uint16_t>()[i] = toHalf(t.values[i]);
    else r.dataAs<float>()[i] = t.values[i];
  }
  return r;
}

/// One node; `constant[i]` inputs become graph constants, the rest graph inputs. Absent inputs stay kNoValue.
ir::Graph makeGraph(OpKind op, const ir::Attributes& attrs, const std::vector<HostTensor>& inputs,
                    const std::vector<bool>& constant, DataType type) {
  ir::Graph g;
  ir::Node node;
  node.name = "n0";
  node.op = op;
  node.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].present()) {
      node.inputs.push_back(ir::kNoValue);
      continue;
    }
    ir::ValueId id;
    if (constant[i]) {
      id = g.addConstant("in" + std::to_string(i), toTensor(inputs[i], type));
    } else {
      id = g.addValue("in" + std::to_string(i), type);
      g.values[id].rankKnown = true;
      g.values[id].dims = inputs[i].dims;
      g.inputs.push_back(id);
    }
    g.values[id].dtype = type;
    node.inputs.push_back(id);
  }
  node.outputs.push_back(g.addValue("out0"));
  g.outputs.push_back(node.outputs[0]);
  g.nodes.push_back(node);
  return g;
}

/// Runs the graph's node on `backend` with `tactic`; the output comes back as float values.
Expected<HostTensor> runNode(Backend& backend, const ir::Graph& g, const std::vector<HostTensor>& inputs,
                             const Dims& outDims, DataType type, const std::string& tactic) {
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
  return out;
}

ir::Attributes attrs(std::initializer_list<std::pair<std::string, ir::AttributeValue>> list) {
  ir::Attributes a;
  for (auto& [k, v] : list) a.set(k, v);
  return a;
}

/// A conv-net node in NCHW terms: X dims, Conv weights OIHW (empty for pools), the fused epilogue.
struct Case {
  std::string label;
  OpKind op;
  ir::Attributes attrs;  // ONNX attributes, without data_format / activation
  Dims x;
  Dims w;
  bool bias = false;
  bool relu = false;
  bool residual = false;
};

/// Compares and prints; returns the cosine similarity.
double compare(const HostTensor& want, const HostTensor& got, bool half, const std::string& label) {
  EXPECT_EQ(want.dims, got.dims) << label;
  if (want.values.size() != got.values.size()) return 0;
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
  const double cosine = (nw == 0 && ng == 0) ? 1.0 : dot / std::sqrt(nw * ng + 1e-300);
  if (half) {
    std::printf("[  FP16    ] %s: cosine %.6f, max rel err %.3g\n", label.c_str(), cosine, maxRel);
    EXPECT_GE(cosine, 0.999) << label;
    EXPECT_LE(maxRel, 2e-2) << label;
  }
  return cosine;
}

class NhwcKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    backends::BackendOptions options;
    options.allowTF32 = false;  // strict FP32 for the 1e-4 comparison
    selfCheck_ = std::getenv("KILN_NHWC_TEST_SELF_CHECK") != nullptr;
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
    if (selfCheck_) return;
    auto cuda = backends::createBackend(DeviceKind::kCuda, options);
    if (!cuda) GTEST_SKIP() << "no CUDA device: " << cuda.status().toString();
    cuda_ = std::move(cuda.value());
  }

  /// Random NCHW inputs of `c` (rounded to float16 when `half`): X, W, B, residual; absent ones empty.
  std::vector<HostTensor> nchwInputs(const Case& c, bool half, const Dims& yNchw) {
    std::mt19937 rng(99u + static_cast<uint32_t>(c.label.size()) * 7u + (half ? 1u : 0u));
    std::vector<HostTensor> in{randomTensor(c.x, rng, half)};
    if (c.op != OpKind::kConv) return in;
    in.push_back(randomTensor(c.w, rng, half));
    in.push_back(c.bias ? randomTensor({c.w[0]}, rng, half) : HostTensor{});
    in.push_back(c.residual ? randomTensor(yNchw, rng, half) : HostTensor{});
    return in;
  }

  /// The NCHW output dims of the plain node, from shape inference.
  Dims outputDims(const Case& c) {
    std::vector<HostTensor> shapes{{c.x, {}}};
    if (c.op == OpKind::kConv) shapes.push_back({c.w, {}});
    const ir::Graph g = makeGraph(c.op, c.attrs, shapes, std::vector<bool>(shapes.size(), false), DataType::kFloat32);
    std::vector<ops::TensorInfo> infos;
    for (const auto& s : shapes) infos.push_back({DataType::kFloat32, s.dims, nullptr});
    auto out = ops::inferOutputs(g, g.nodes[0], infos);
    EXPECT_TRUE(out.hasValue()) << c.label << ": " << out.status().toString();
    return out ? (*out)[0].dims : Dims{};
  }

  /// The reference in NHWC: CPU NCHW node, then residual and Relu on the host.
  HostTensor reference(const Case& c, const std::vector<HostTensor>& in, const Dims& yNchw) {
    std::vector<HostTensor> plainInputs(in.begin(), in.begin() + std::min<size_t>(in.size(), 3));
    std::vector<bool> constant{false, true, true};
    constant.resize(plainInputs.size());
    const ir::Graph g = makeGraph(c.op, c.attrs, plainInputs, constant, DataType::kFloat32);
    auto y = runNode(*cpu_, g, plainInputs, yNchw, DataType::kFloat32, "");
    EXPECT_TRUE(y.hasValue()) << c.label << ": CPU reference: " << y.status().toString();
    if (!y) return {};
    for (size_t i = 0; i < y->values.size(); ++i) {
      double v = y->values[i];
      if (c.residual) v += in[3].values[i];
      if (c.relu) v = std::max(v, 0.0);
      y->values[i] = static_cast<float>(v);
    }
    return toNhwc(*y);
  }

  /// The NHWC node for the CUDA backend and its NHWC inputs (X, KRSC weights, bias, residual).
  std::pair<ir::Graph, std::vector<HostTensor>> nhwcNode(const Case& c, const std::vector<HostTensor>& in,
                                                         DataType type) {
    ir::Attributes a = c.attrs;
    a.set("data_format", std::string("NHWC"));
    if (c.relu) a.set("activation", std::string("Relu"));
    std::vector<HostTensor> nhwc{toNhwc(in[0])};
    if (c.op == OpKind::kConv) {
      nhwc.push_back(toNhwc(in[1]));  // OIHW -> KRSC is the same permutation
      nhwc.push_back(in[2]);
      nhwc.push_back(in[3].present() ? toNhwc(in[3]) : HostTensor{});
      if (!c.residual) nhwc.pop_back();
    }
    return {makeGraph(c.op, a, nhwc, {false, true, true, false}, type), nhwc};
  }

  /// Self-check stand-in for the CUDA backend: NHWC inputs back to NCHW, the reference path, NHWC out.
  HostTensor selfCheckRun(const Case& c, const std::vector<HostTensor>& nhwc, const Dims& yNchw) {
    std::vector<HostTensor> back{toNchw(nhwc[0])};
    if (c.op == OpKind::kConv) {
      back.push_back(toNchw(nhwc[1]));
      back.push_back(nhwc[2]);
      back.push_back(c.residual ? toNchw(nhwc[3]) : HostTensor{});
    }
    return reference(c, back, yNchw);
  }

  void check(const Case& c) {
    SCOPED_TRACE(c.label);
    const Dims yNchw = outputDims(c);
    ASSERT_FALSE(yNchw.empty());
    const Dims yNhwc{yNchw[0], yNchw[2], yNchw[3], yNchw[1]};
    for (DataType type : {DataType::kFloat32, DataType::kFloat16}) {
      const bool half = type == DataType::kFloat16;
      if (half && selfCheck_) continue;
      const std::string label = c.label + (half ? " float16" : " float32");
      const auto in = nchwInputs(c, half, yNchw);
      const HostTensor want = reference(c, in, yNchw);
      ASSERT_TRUE(want.present()) << label;
      auto [g, nhwc] = nhwcNode(c, in, type);
      // Shape inference agrees on the NHWC output.
      std::vector<ops::TensorInfo> infos;
      for (size_t i = 0; i < nhwc.size(); ++i)
        infos.push_back(nhwc[i].present() ? ops::TensorInfo{type, nhwc[i].dims, nullptr} : ops::TensorInfo{});
      auto inferred = ops::inferOutputs(g, g.nodes[0], infos);
      ASSERT_TRUE(inferred.hasValue()) << label << ": " << inferred.status().toString();
      EXPECT_EQ((*inferred)[0].dims, yNhwc) << label;
      if (selfCheck_) {
        compare(want, selfCheckRun(c, nhwc, yNchw), false, label);
        continue;
      }
      auto got = runNode(*cuda_, g, nhwc, yNhwc, type, "");
      ASSERT_TRUE(got.hasValue()) << label << ": " << got.status().toString();
      compare(want, *got, half, label);
    }
  }

  std::unique_ptr<Backend> cuda_, cpu_;
  bool selfCheck_ = false;
};

ir::Attributes convAttrs(std::vector<int64_t> pads, std::vector<int64_t> strides, int64_t group = 1,
                         std::vector<int64_t> dilations = {1, 1}) {
  return attrs({{"pads", pads}, {"strides", strides}, {"dilations", dilations}, {"group", group}});
}

TEST_F(NhwcKernels, Conv) {
  check({"3x3 p1 bias", OpKind::kConv, convAttrs({1, 1, 1, 1}, {1, 1}), {2, 16, 11, 13}, {32, 16, 3, 3}, true});
  check({"3x3 no bias odd channels", OpKind::kConv, convAttrs({1, 1, 1, 1}, {1, 1}), {1, 5, 9, 10}, {7, 5, 3, 3}});
  check({"3x3 s2 p1 bias relu", OpKind::kConv, convAttrs({1, 1, 1, 1}, {2, 2}), {2, 8, 15, 9}, {16, 8, 3, 3}, true, true});
  check({"1x1 bias residual relu", OpKind::kConv, convAttrs({0, 0, 0, 0}, {1, 1}), {2, 32, 7, 7}, {64, 32, 1, 1}, true,
         true, true});
  check({"3x3 p1 bias residual relu", OpKind::kConv, convAttrs({1, 1, 1, 1}, {1, 1}), {3, 16, 8, 6}, {16, 16, 3, 3},
         true, true, true});
  check({"1x1 s2 bias (downsample)", OpKind::kConv, convAttrs({0, 0, 0, 0}, {2, 2}), {2, 16, 14, 14}, {32, 16, 1, 1},
         true});
  check({"depthwise 3x3 s1 bias relu", OpKind::kConv, convAttrs({1, 1, 1, 1}, {1, 1}, 32), {2, 32, 14, 14},
         {32, 1, 3, 3}, true, true});
  check({"depthwise 3x3 s2 bias", OpKind::kConv, convAttrs({1, 1, 1, 1}, {2, 2}, 24), {1, 24, 13, 11}, {24, 1, 3, 3},
         true});
  check({"group 2 3x3 s2 d2 bias", OpKind::kConv, convAttrs({2, 2, 2, 2}, {2, 2}, 2, {2, 2}), {2, 8, 9, 9},
         {12, 4, 3, 3}, true});
  check({"7x7 s2 p3 stem bias relu", OpKind::kConv, convAttrs({3, 3, 3, 3}, {2, 2}), {2, 3, 32, 30}, {16, 3, 7, 7},
         true, true});
  ir::Attributes same = attrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{1, 1}}});
  check({"3x3 SAME_UPPER bias relu", OpKind::kConv, same, {1, 8, 7, 9}, {8, 8, 3, 3}, true, true});
  // Asymmetric pads: X is padded explicitly into the workspace, the fused epilogue still applies.
  check({"3x3 asym pads 1/2 0/1 bias residual relu", OpKind::kConv, convAttrs({1, 0, 2, 1}, {1, 1}), {2, 8, 9, 7},
         {8, 8, 3, 3}, true, true, true});
  check({"2x2 s2 asym pads 0/1 no bias", OpKind::kConv, convAttrs({0, 0, 1, 1}, {2, 2}), {1, 6, 8, 9}, {4, 6, 2, 2}});
  ir::Attributes sameLower = attrs({{"auto_pad", std::string("SAME_LOWER")}, {"strides", std::vector<int64_t>{1, 1}}});
  check({"2x4 SAME_LOWER bias relu", OpKind::kConv, sameLower, {1, 8, 7, 9}, {8, 8, 2, 4}, true, true});
}

ir::Attributes poolAttrs(std::vector<int64_t> kernel, std::vector<int64_t> strides, std::vector<int64_t> pads) {
  return attrs({{"kernel_shape", kernel}, {"strides", strides}, {"pads", pads}});
}

TEST_F(NhwcKernels, Pools) {
  // Channel counts cover the vector path (C % 8 == 0) and the scalar path (odd C).
  check({"MaxPool 3x3 s2 p1 C16", OpKind::kMaxPool, poolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1}), {2, 16, 13, 11}});
  check({"MaxPool 2x2 s2 C5", OpKind::kMaxPool, poolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}), {1, 5, 8, 9}});
  check({"MaxPool 3x3 s1 C12", OpKind::kMaxPool, poolAttrs({3, 3}, {1, 1}, {0, 0, 0, 0}), {2, 12, 6, 7}});
  ir::Attributes ceil = poolAttrs({3, 3}, {2, 2}, {0, 0, 0, 0});
  ceil.set("ceil_mode", int64_t{1});
  check({"MaxPool ceil_mode C8", OpKind::kMaxPool, ceil, {1, 8, 10, 10}});
  check({"AveragePool 3x3 s2 p1 C24", OpKind::kAveragePool, poolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1}), {2, 24, 13, 11}});
  ir::Attributes include = poolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1});
  include.set("count_include_pad", int64_t{1});
  check({"AveragePool count_include_pad C3", OpKind::kAveragePool, include, {2, 3, 13, 11}});
  check({"AveragePool 2x2 s2 C64", OpKind::kAveragePool, poolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}), {2, 64, 8, 8}});
}

TEST_F(NhwcKernels, GlobalPools) {
  check({"GlobalAveragePool C64 7x7", OpKind::kGlobalAveragePool, {}, {2, 64, 7, 7}});
  check({"GlobalAveragePool C2048 7x7", OpKind::kGlobalAveragePool, {}, {3, 2048, 7, 7}});
  check({"GlobalAveragePool C5 4x3", OpKind::kGlobalAveragePool, {}, {3, 5, 4, 3}});
  check({"GlobalAveragePool C40 1x1", OpKind::kGlobalAveragePool, {}, {2, 40, 1, 1}});
  check({"GlobalAveragePool C8 33x35", OpKind::kGlobalAveragePool, {}, {1, 8, 33, 35}});
  check({"GlobalMaxPool C24 5x5", OpKind::kGlobalMaxPool, {}, {2, 24, 5, 5}});
  check({"GlobalMaxPool C7 3x4", OpKind::kGlobalMaxPool, {}, {2, 7, 3, 4}});
}

TEST_F(NhwcKernels, SupportsRefusesWithReasons) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
  std::mt19937 rng(5);
  const auto refusal = [&](OpKind op, ir::Attributes a, std::vector<HostTensor> in) {
    const ir::Graph g = makeGraph(op, a, in, {false, true, true}, DataType::kFloat16);
    return cuda_->supports(g, g.nodes[0]);
  };
  ir::Attributes nhwc = convAttrs({1, 1}, {1});
  nhwc.set("data_format", std::string("NHWC"));
  Status s = refusal(OpKind::kConv, nhwc, {randomTensor({1, 9, 4}, rng, true), randomTensor({4, 3, 4}, rng, true)});
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("node 'n0' (Conv)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("NHWC"), std::string::npos) << s.message();
  ir::Attributes odd = poolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0});
  odd.set("data_format", std::string("NCDHW"));
  s = refusal(OpKind::kMaxPool, odd, {randomTensor({1, 4, 4, 4}, rng, true)});
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("NCDHW"), std::string::npos) << s.message();
  ir::Attributes pool3d = poolAttrs({2, 2, 2}, {2, 2, 2}, {0, 0, 0, 0, 0, 0});
  pool3d.set("data_format", std::string("NHWC"));
  s = refusal(OpKind::kAveragePool, pool3d, {randomTensor({1, 4, 4, 4, 3}, rng, true)});
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("rank-4"), std::string::npos) << s.message();
}

/// Tuning: chooseTactic races cuDNN's legacy algorithms and graph engines through run() and returns the winner
/// ("cudnn:algo=A:mathtype=M", "cudnn-graph:engine=E:knobs=...", or one per tuned batch, "batches:1=...;4=...");
/// a kernel made with it matches one made by heuristics; a malformed or inapplicable tactic falls back cleanly.
class ConvTuning : public NhwcKernels {
 protected:
  void tuneAndCompare(const Case& c, DataType type) {
    const bool half = type == DataType::kFloat16;
    const std::string label = c.label + (half ? " float16" : " float32");
    SCOPED_TRACE(label);
    const Dims yNchw = outputDims(c);
    ASSERT_FALSE(yNchw.empty());
    const Dims yNhwc{yNchw[0], yNchw[2], yNchw[3], yNchw[1]};
    const auto in = nchwInputs(c, half, yNchw);
    const HostTensor want = reference(c, in, yNchw);
    auto [g, nhwc] = nhwcNode(c, in, type);
    std::vector<DeviceTensor> shapesIn;
    for (const auto& t : nhwc) shapesIn.push_back(t.present() ? DeviceTensor{type, t.dims, nullptr} : DeviceTensor{});
    const DeviceTensor shapesOut[1] = {{type, yNhwc, nullptr}};
    auto tactic = cuda_->chooseTactic(g, g.nodes[0], shapesIn, shapesOut);
    ASSERT_TRUE(tactic.hasValue()) << tactic.status().toString();
    std::printf("[  TACTIC  ] %s: '%s'\n", label.c_str(), tactic->c_str());
    // A legacy algorithm, a cuDNN graph engine, one of those per tuned batch ("batches:1=...;4=..."), or for a
    // depthwise conv kiln's own kernel ("kiln-dw:...", conv_depthwise.h), which races cuDNN.
    const bool legacy = tactic->rfind("cudnn:algo=", 0) == 0, graphApi = tactic->rfind("cudnn-graph:", 0) == 0,
               perBatch = tactic->rfind("batches:", 0) == 0, own = tactic->rfind("kiln-dw:", 0) == 0;
    ASSERT_TRUE(legacy || graphApi || perBatch || own) << *tactic;
    if (!half) {
      // Strict FP32 (this fixture's backend forbids TF32): every legacy entry uses FMA math; graph engines with
      // tensor cores are refused by the kernel, and compare() below holds either to FP32 accuracy.
      size_t algos = 0, strict = 0;
      for (size_t p = tactic->find("cudnn:algo="); p != std::string::npos; p = tactic->find("cudnn:algo=", p + 1)) ++algos;
      for (size_t p = tactic->find(":mathtype=3"); p != std::string::npos; p = tactic->find(":mathtype=3", p + 1)) ++strict;
      EXPECT_EQ(algos, strict) << "strict FP32 must use FMA math: " << *tactic;
    }
    auto tuned = runNode(*cuda_, g, nhwc, yNhwc, type, *tactic);
    ASSERT_TRUE(tuned.hasValue()) << tuned.status().toString();
    auto heuristic = runNode(*cuda_, g, nhwc, yNhwc, type, "");
    ASSERT_TRUE(heuristic.hasValue()) << heuristic.status().toString();
    compare(want, *tuned, half, label + " tuned");
    compare(want, *heuristic, half, label + " heuristic");
    compare(*heuristic, *tuned, half, label + " tuned vs heuristic");
    // The kernel says which algorithm it used, and that it came from the tactic.
    auto kernel = cuda_->createKernel(g, g.nodes[0], *tactic);
    ASSERT_TRUE(kernel.hasValue());
    const std::string used = (*kernel)->tactic();
    std::printf("[  TACTIC  ] %s: kernel reports '%s'\n", label.c_str(), used.c_str());
    if (own) {
      EXPECT_EQ(used.rfind(*tactic + " depthwise", 0), 0u) << used;  // the tactic it was made with, verbatim
      return;
    }
    EXPECT_TRUE(used.find("nhwc algo=") != std::string::npos || used.find("nhwc engine=") != std::string::npos) << used;
    EXPECT_NE(used.find("(tuned)"), std::string::npos) << used;
  }
};

TEST_F(ConvTuning, ChosenTacticMatchesHeuristics) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
  const Case fused{"tune 3x3 bias residual relu", OpKind::kConv, convAttrs({1, 1, 1, 1}, {1, 1}), {4, 32, 14, 14},
                   {64, 32, 3, 3}, true, true, true};
  const Case plain{"tune 1x1 s2 bias", OpKind::kConv, convAttrs({0, 0, 0, 0}, {2, 2}), {4, 32, 14, 14},
                   {64, 32, 1, 1}, true};
  const Case depthwise{"tune depthwise bias relu", OpKind::kConv, convAttrs({1, 1, 1, 1}, {1, 1}, 32), {2, 32, 10, 10},
                       {32, 1, 3, 3}, true, true};
  for (const Case* c : {&fused, &plain, &depthwise}) {
    tuneAndCompare(*c, DataType::kFloat16);
    tuneAndCompare(*c, DataType::kFloat32);
  }
}

TEST_F(ConvTuning, BadTacticsFallBackToHeuristics) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
  const Case c{"fallback 3x3 bias relu", OpKind::kConv, convAttrs({1, 1, 1, 1}, {1, 1}), {2, 16, 9, 7}, {16, 16, 3, 3},
               true, true};
  const Dims yNchw = outputDims(c);
  const Dims yNhwc{yNchw[0], yNchw[2], yNchw[3], yNchw[1]};
  const auto in = nchwInputs(c, true, yNchw);
  const HostTensor want = reference(c, in, yNchw);
  auto [g, nhwc] = nhwcNode(c, in, DataType::kFloat16);
  // Malformed, out of range, trailing junk, another backend's format; and FFT (valid syntax, but cuDNN is not expected
  // to offer it for NHWC float16; if not offered at this shape the plan falls back; either way the result must hold).
  for (const std::string bad : {"garbage", "cudnn:algo=99:mathtype=1", "cudnn:algo=-1:mathtype=1",
                                "cudnn:algo=1:mathtype=7", "cudnn:algo=1:mathtype=1junk", "cudnn:algo=:mathtype=",
                                "cudnn:algo=1", "im2col+sgemm", "cudnn:algo=4:mathtype=1",
                                "cudnn-graph:engine=99999:knobs=", "cudnn-graph:engine=1:knobs=3.x",
                                "cudnn-graph:engine=41:knobs=99.1", "batches:", "batches:2=garbage;1=garbage",
                                "batches:1=cudnn:algo=1:mathtype=1;4=cudnn-graph:engine=99999:knobs="}) {
    SCOPED_TRACE(bad);
    auto kernel = cuda_->createKernel(g, g.nodes[0], bad);
    ASSERT_TRUE(kernel.hasValue()) << kernel.status().toString();
    auto got = runNode(*cuda_, g, nhwc, yNhwc, DataType::kFloat16, bad);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    compare(want, *got, true, c.label + " tactic '" + bad + "'");
  }
  // An unparsable tactic is not reported as tuned.
  auto kernel = cuda_->createKernel(g, g.nodes[0], "garbage");
  ASSERT_TRUE(kernel.hasValue());
  EXPECT_EQ((*kernel)->tactic().find("(tuned)"), std::string::npos) << (*kernel)->tactic();
}

TEST_F(ConvTuning, NchwStillTunes) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
  // The tuner also serves NCHW convs (no data_format): a tactic comes back and the kernel made with it is right.
  std::mt19937 rng(11);
  const HostTensor x = randomTensor({2, 8, 9, 9}, rng, false), w = randomTensor({16, 8, 3, 3}, rng, false),
                   b = randomTensor({16}, rng, false);
  const ir::Attributes a = convAttrs({1, 1, 1, 1}, {1, 1});
  const ir::Graph g = makeGraph(OpKind::kConv, a, {x, w, b}, {false, true, true}, DataType::kFloat32);
  const DeviceTensor shapesIn[3] = {{DataType::kFloat32, x.dims, nullptr}, {DataType::kFloat32, w.dims, nullptr},
                                    {DataType::kFloat32, b.dims, nullptr}};
  const DeviceTensor shapesOut[1] = {{DataType::kFloat32, {2, 16, 9, 9}, nullptr}};
  auto tactic = cuda_->chooseTactic(g, g.nodes[0], shapesIn, shapesOut);
  ASSERT_TRUE(tactic.hasValue()) << tactic.status().toString();
  ASSERT_FALSE(tactic->empty());
  auto want = runNode(*cpu_, g, {x, w, b}, {2, 16, 9, 9}, DataType::kFloat32, "");
  ASSERT_TRUE(want.hasValue()) << want.status().toString();
  auto got = runNode(*cuda_, g, {x, w, b}, {2, 16, 9, 9}, DataType::kFloat32, *tactic);
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  compare(*want, *got, false, "NCHW tuned " + *tactic);
}

}  // namespace
}  // namespace kiln

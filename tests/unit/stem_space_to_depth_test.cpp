// The space-to-depth stem: kiln's extended SpaceToDepth (ops/space_to_depth_packed.h) on the CPU backend against a
// float64 reference loop written here, the weight transform and plan (passes/space_to_depth_stem.h) checked by
// pack + stride-1 conv == the original stride-2 conv computed directly in float64, the NHWC pass's rewrite of a
// stem, the validation errors, and the importer refusing the extension attributes in ONNX files.
// Tolerances: data movement is exact (== on every element); the conv equivalence compares two float64 sums of the
// same float32 products in different orders: |a - b| <= 1e-9 * (sum of |products|) per element.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backends/cpu/cpu_kernels.h"
#include "kiln/builder.h"
#include "onnx/testing/onnx_model_writer.h"
#include "onnx_import_helpers.h"
#include "ops/shape_inference.h"
#include "passes/passes.h"
#include "passes/space_to_depth_stem.h"
#include "runtime/shape_program.h"

namespace kiln {
namespace {

using ir::OpKind;

Tensor randomTensor(Dims dims, uint32_t seed) {
  Tensor t = Tensor::allocate(DataType::kFloat32, std::move(dims)).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.1f, 2.0f);
  for (int64_t i = 0; i < t.elementCount(); ++i) t.dataAs<float>()[i] = (rng() & 1 ? 1.0f : -1.0f) * u(rng);
  return t;
}

ir::Attributes packAttrs(int64_t block, std::vector<int64_t> pads, const std::string& format, int64_t channels) {
  ir::Attributes a;
  a.set("blocksize", block);
  a.set("pads", std::move(pads));
  a.set("data_format", format);
  if (channels > 0) a.set("output_channels", channels);
  return a;
}

/// One SpaceToDepth node: shape inference, then the CPU kernel.
Expected<Tensor> runSpaceToDepth(const Tensor& x, const ir::Attributes& attrs) {
  ir::Graph g;
  ir::Node node;
  node.name = "pack";
  node.op = OpKind::kSpaceToDepth;
  node.attrs = attrs;
  node.inputs.push_back(g.addValue("x", x.dtype()));
  node.outputs.push_back(g.addValue("z"));
  const ops::TensorInfo info{x.dtype(), x.dims(), nullptr};
  KILN_ASSIGN_OR_RETURN(auto out, ops::inferOutputs(g, node, std::span<const ops::TensorInfo>(&info, 1)));
  KILN_ASSIGN_OR_RETURN(Tensor z, Tensor::allocate(out[0].dtype, out[0].dims));
  std::memset(z.data(), 0x7f, z.byteSize());  // garbage: the kernel must write every element, zeros included
  const backends::DeviceTensor in{x.dtype(), x.dims(), const_cast<void*>(x.data())};
  const backends::DeviceTensor res{z.dtype(), z.dims(), z.data()};
  KILN_RETURN_IF_ERROR(backends::cpu::executeNode(g, node, std::span(&in, 1), std::span(&res, 1)));
  return z;
}

/// The float64 reference of the extended op, written from its definition: for every output element, which input
/// element (if any) it holds.
std::vector<double> referencePack(const Tensor& x, int64_t bs, const std::vector<int64_t>& pads, bool nhwc,
                                  int64_t oc) {
  const Dims& d = x.dims();
  const int64_t N = d[0], C = d[1], H = d[2], W = d[3];
  const int64_t OH = (H + pads[0] + pads[2]) / bs, OW = (W + pads[1] + pads[3]) / bs;
  std::vector<double> z(static_cast<size_t>(N * OH * OW * oc), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < oc; ++ch)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double v = 0;
          if (ch < C * bs * bs) {
            const int64_t a = ch / C / bs, b = ch / C % bs, c = ch % C;
            const int64_t h = i * bs + a - pads[0], w = j * bs + b - pads[1];
            if (h >= 0 && h < H && w >= 0 && w < W) v = x.dataAs<float>()[((n * C + c) * H + h) * W + w];
          }
          const int64_t at = nhwc ? ((n * OH + i) * OW + j) * oc + ch : ((n * oc + ch) * OH + i) * OW + j;
          z[static_cast<size_t>(at)] = v;
        }
  return z;
}

TEST(StemSpaceToDepth, ExtendedOpMatchesReferenceAtOddShapes) {
  struct Case {
    Dims x;
    int64_t block;
    std::vector<int64_t> pads;
    int64_t oc;  // 0: default C * bs^2
  };
  const Case cases[] = {
      {{2, 3, 37, 53}, 2, {3, 3, 4, 4}, 16},  // a 7x7/s2/p3 stem's packing (H, W odd)
      {{1, 1, 5, 7}, 2, {1, 1, 0, 0}, 8},
      {{3, 2, 9, 4}, 2, {0, 1, 1, 1}, 0},
      {{2, 3, 6, 6}, 2, {0, 0, 0, 0}, 12},
      {{1, 2, 7, 5}, 3, {2, 0, 0, 1}, 20},    // another block size
      {{2, 3, 11, 13}, 2, {2, 1, 1, 2}, 13},  // output channels not a multiple of 8
  };
  uint32_t seed = 1;
  for (const Case& c : cases)
    for (bool nhwc : {true, false}) {
      SCOPED_TRACE(dimsToString(c.x) + (nhwc ? " NHWC" : " NCHW") + " block " + std::to_string(c.block));
      const Tensor x = randomTensor(c.x, seed++);
      auto z = runSpaceToDepth(x, packAttrs(c.block, c.pads, nhwc ? "NHWC" : "NCHW", c.oc));
      ASSERT_TRUE(z.hasValue()) << z.status().toString();
      const int64_t oc = c.oc ? c.oc : c.x[1] * c.block * c.block;
      const int64_t OH = (c.x[2] + c.pads[0] + c.pads[2]) / c.block, OW = (c.x[3] + c.pads[1] + c.pads[3]) / c.block;
      EXPECT_EQ(z->dims(), nhwc ? (Dims{c.x[0], OH, OW, oc}) : (Dims{c.x[0], oc, OH, OW}));
      const auto want = referencePack(x, c.block, c.pads, nhwc, oc);
      ASSERT_EQ(static_cast<size_t>(z->elementCount()), want.size());
      int bad = 0;
      for (size_t i = 0; i < want.size(); ++i)
        if (z->dataAs<float>()[i] != want[i] && bad++ < 5)
          ADD_FAILURE() << "element " << i << ": got " << z->dataAs<float>()[i] << ", want " << want[i];
      EXPECT_EQ(bad, 0);
    }
}

TEST(StemSpaceToDepth, ExtensionWithoutPaddingEqualsPlainSpaceToDepth) {
  const Tensor x = randomTensor({2, 3, 6, 8}, 7);
  ir::Attributes plain;
  plain.set("blocksize", int64_t{2});
  auto a = runSpaceToDepth(x, plain);
  auto b = runSpaceToDepth(x, packAttrs(2, {0, 0, 0, 0}, "NCHW", 0));
  ASSERT_TRUE(a.hasValue() && b.hasValue());
  ASSERT_EQ(a->dims(), b->dims());
  EXPECT_EQ(std::memcmp(a->data(), b->data(), a->byteSize()), 0);
}

TEST(StemSpaceToDepth, InvalidExtensionAttributesAreErrorsNamingNodeAndAttribute) {
  const Tensor x = randomTensor({1, 3, 8, 8}, 3);
  struct Bad {
    ir::Attributes attrs;
    std::string mentions;
  };
  std::vector<Bad> bad;
  bad.push_back({packAttrs(2, {1, 1, 1, 1}, "NHWC", 11), "output_channels"});  // < 4C = 12
  bad.push_back({packAttrs(2, {1, 1, 1}, "NHWC", 16), "pads"});
  bad.push_back({packAttrs(2, {-1, 1, 1, 1}, "NHWC", 16), "pads"});
  bad.push_back({packAttrs(2, {1, 1, 0, 0}, "NHWC", 16), "divisible"});  // 9 rows do not block by 2
  bad.push_back({packAttrs(2, {1, 1, 1, 1}, "NWHC", 16), "data_format"});
  bad.push_back({packAttrs(0, {1, 1, 1, 1}, "NHWC", 16), "blocksize"});
  {
    ir::Attributes a = packAttrs(2, {1, 1, 1, 1}, "NHWC", 16);
    a.set("mode", std::string("CRD"));
    bad.push_back({a, "mode"});
  }
  {
    ir::Attributes a = packAttrs(2, {1, 1, 1, 1}, "NHWC", 16);
    a.set("output_channels", std::string("sixteen"));
    bad.push_back({a, "output_channels"});
  }
  for (const Bad& b : bad) {
    auto z = runSpaceToDepth(x, b.attrs);
    ASSERT_FALSE(z.hasValue()) << "expected an error mentioning " << b.mentions;
    EXPECT_NE(z.status().message().find(b.mentions), std::string::npos) << z.status().toString();
    EXPECT_NE(z.status().message().find("'pack'"), std::string::npos) << z.status().toString();
  }
}

// ---- conv references in float64

struct ConvSpec {
  int64_t strideH = 1, strideW = 1;
  int64_t top = 0, left = 0, bottom = 0, right = 0;
};

/// y[n, k, p, q] = sum over c, r, s of x[n, c, p * sh + r - top, q * sw + s - left] * w[k, c, r, s] (NCHW, OIHW).
std::vector<double> directConv(const Tensor& x, const Tensor& w, const ConvSpec& s, Dims& outDims,
                               std::vector<double>* magnitude) {
  const Dims& d = x.dims();
  const Dims& k = w.dims();
  const int64_t N = d[0], C = d[1], H = d[2], W = d[3], K = k[0], R = k[2], S = k[3];
  const int64_t P = (H + s.top + s.bottom - R) / s.strideH + 1, Q = (W + s.left + s.right - S) / s.strideW + 1;
  outDims = {N, K, P, Q};
  std::vector<double> y(static_cast<size_t>(N * K * P * Q), 0.0);
  if (magnitude) magnitude->assign(y.size(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < K; ++o)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = 0, mag = 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t t = 0; t < S; ++t) {
                const int64_t h = p * s.strideH + r - s.top, ww = q * s.strideW + t - s.left;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                const double v = double(x.dataAs<float>()[((n * C + c) * H + h) * W + ww]) *
                                 double(w.dataAs<float>()[((o * C + c) * R + r) * S + t]);
                acc += v;
                mag += std::fabs(v);
              }
          const size_t at = static_cast<size_t>(((n * K + o) * P + p) * Q + q);
          y[at] = acc;
          if (magnitude) (*magnitude)[at] = mag;
        }
  return y;
}

/// Stride 1, no padding, over NHWC z [N, Hz, Wz, Cz] with KRSC weights [K, R, S, Cz]; result in NCHW order.
std::vector<double> packedConv(const Tensor& z, const Tensor& w, Dims& outDims) {
  const Dims& d = z.dims();
  const Dims& k = w.dims();
  const int64_t N = d[0], Hz = d[1], Wz = d[2], Cz = d[3], K = k[0], R = k[1], S = k[2];
  EXPECT_EQ(k[3], Cz);
  const int64_t P = Hz - R + 1, Q = Wz - S + 1;
  outDims = {N, K, P, Q};
  std::vector<double> y(static_cast<size_t>(N * K * P * Q), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < K; ++o)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = 0;
          for (int64_t r = 0; r < R; ++r)
            for (int64_t t = 0; t < S; ++t)
              for (int64_t c = 0; c < Cz; ++c)
                acc += double(z.dataAs<float>()[((n * Hz + p + r) * Wz + q + t) * Cz + c]) *
                       double(w.dataAs<float>()[((o * R + r) * S + t) * Cz + c]);
          y[static_cast<size_t>(((n * K + o) * P + p) * Q + q)] = acc;
        }
  return y;
}

void expectSameConv(const std::vector<double>& want, const std::vector<double>& magnitude,
                    const std::vector<double>& got) {
  ASSERT_EQ(want.size(), got.size());
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::fabs(want[i] - got[i]) > 1e-9 * magnitude[i] + 1e-12 && bad++ < 5)
      ADD_FAILURE() << "element " << i << ": direct " << want[i] << ", packed " << got[i];
  EXPECT_EQ(bad, 0);
}

ir::Attributes convAttrs(const ConvSpec& s, int64_t R, int64_t S) {
  ir::Attributes a;
  a.set("strides", std::vector<int64_t>{s.strideH, s.strideW});
  a.set("pads", std::vector<int64_t>{s.top, s.left, s.bottom, s.right});
  a.set("kernel_shape", std::vector<int64_t>{R, S});
  return a;
}

TEST(StemSpaceToDepth, PackPlusStrideOneConvEqualsStrideTwoConv) {
  struct Case {
    Dims x, w;
    ConvSpec spec;
  };
  const Case cases[] = {
      {{2, 3, 37, 53}, {5, 3, 7, 7}, {2, 2, 3, 3, 3, 3}},  // ResNet's stem at odd H, W
      {{2, 3, 38, 40}, {4, 3, 7, 7}, {2, 2, 3, 3, 3, 3}},  // even H, W
      {{1, 3, 21, 17}, {6, 3, 3, 3}, {2, 2, 1, 1, 1, 1}},
      {{3, 3, 19, 22}, {3, 3, 5, 4}, {2, 2, 2, 1, 1, 2}},  // asymmetric kernel and pads
      {{1, 1, 9, 11}, {2, 1, 2, 2}, {2, 2, 0, 0, 1, 1}},   // C = 1, 2x2 kernel, end padding only
      {{2, 2, 15, 12}, {3, 2, 4, 6}, {2, 2, 1, 2, 2, 1}},  // C = 2
      {{1, 4, 13, 13}, {2, 4, 3, 5}, {2, 2, 0, 2, 1, 0}},  // C = 4: 16 packed channels, no rounding
  };
  uint32_t seed = 11;
  for (const Case& c : cases) {
    SCOPED_TRACE("x " + dimsToString(c.x) + " w " + dimsToString(c.w));
    const Tensor x = randomTensor(c.x, seed++), w = randomTensor(c.w, seed++);
    const auto stem = passes::planSpaceToDepthStem(convAttrs(c.spec, c.w[2], c.w[3]), c.x, c.w);
    ASSERT_TRUE(stem.has_value());
    EXPECT_EQ(stem->outputChannels % 8, 0);
    EXPECT_GE(stem->outputChannels, 4 * c.x[1]);
    EXPECT_EQ(stem->kernelH, (c.w[2] + 1) / 2);
    EXPECT_EQ(stem->kernelW, (c.w[3] + 1) / 2);
    auto z = runSpaceToDepth(x, packAttrs(2, {stem->pads.begin(), stem->pads.end()}, "NHWC", stem->outputChannels));
    ASSERT_TRUE(z.hasValue()) << z.status().toString();
    auto w2 = passes::spaceToDepthStemWeights(w, stem->outputChannels);
    ASSERT_TRUE(w2.hasValue()) << w2.status().toString();
    EXPECT_EQ(w2->dims(), (Dims{c.w[0], stem->kernelH, stem->kernelW, stem->outputChannels}));
    Dims wantDims, gotDims;
    std::vector<double> magnitude;
    const auto want = directConv(x, w, c.spec, wantDims, &magnitude);
    const auto got = packedConv(*z, *w2, gotDims);
    ASSERT_EQ(wantDims, gotDims);
    expectSameConv(want, magnitude, got);
  }
}

TEST(StemSpaceToDepth, PlanRefusesConvsItDoesNotCover) {
  const ConvSpec s2{2, 2, 1, 1, 1, 1}, s1{1, 1, 1, 1, 1, 1};
  EXPECT_FALSE(passes::planSpaceToDepthStem(convAttrs(s1, 3, 3), {1, 3, 16, 16}, {8, 3, 3, 3}));  // stride 1
  EXPECT_FALSE(passes::planSpaceToDepthStem(convAttrs(s2, 3, 3), {1, 8, 16, 16}, {8, 8, 3, 3}));  // C > 4
  EXPECT_FALSE(passes::planSpaceToDepthStem(convAttrs(s2, 1, 1), {1, 3, 16, 16}, {8, 3, 1, 1}));  // 1x1 kernel
  EXPECT_FALSE(passes::planSpaceToDepthStem(convAttrs(s2, 3, 3), {1, 3, -1, 16}, {8, 3, 3, 3}));  // dynamic H
  ir::Attributes grouped = convAttrs(s2, 3, 3);
  grouped.set("group", int64_t{3});
  EXPECT_FALSE(passes::planSpaceToDepthStem(grouped, {1, 3, 16, 16}, {9, 1, 3, 3}));
  ir::Attributes dilated = convAttrs(s2, 3, 3);
  dilated.set("dilations", std::vector<int64_t>{2, 2});
  EXPECT_FALSE(passes::planSpaceToDepthStem(dilated, {1, 3, 16, 16}, {8, 3, 3, 3}));
  // Even kernel, odd H, no end padding: the packed rows would need a crop of the input.
  EXPECT_FALSE(passes::planSpaceToDepthStem(convAttrs({2, 2, 0, 0, 0, 0}, 4, 4), {1, 3, 37, 37}, {8, 3, 4, 4}));
  EXPECT_FALSE(passes::spaceToDepthStemWeights(randomTensor({8, 3, 3, 3}, 1), 11).hasValue());  // < 4C channels
}

// ---- the NHWC pass on a stem graph

/// x [2, 3, H, W] -> Conv (k x k, stride, pads, bias) -> MaxPool 3x3/s2/p1 -> y, shapes annotated.
ir::Graph stemGraph(int64_t H, int64_t W, int64_t k, int64_t stride, int64_t pad, Tensor& weights) {
  ir::Graph g;
  const ir::ValueId x = g.addValue("x", DataType::kFloat32);
  g.values[x].rankKnown = true;
  g.values[x].dims = {2, 3, H, W};
  g.inputs.push_back(x);
  weights = randomTensor({8, 3, k, k}, 5);
  const ir::ValueId w = g.addConstant("w", weights);
  const ir::ValueId b = g.addConstant("b", randomTensor({8}, 6));
  const ir::ValueId c = g.addValue("c", DataType::kFloat32), y = g.addValue("y", DataType::kFloat32);
  ir::Node conv;
  conv.name = "stem_conv";
  conv.op = OpKind::kConv;
  conv.inputs = {x, w, b};
  conv.outputs = {c};
  conv.attrs = convAttrs({stride, stride, pad, pad, pad, pad}, k, k);
  ir::Node pool;
  pool.name = "stem_pool";
  pool.op = OpKind::kMaxPool;
  pool.inputs = {c};
  pool.outputs = {y};
  pool.attrs.set("kernel_shape", std::vector<int64_t>{3, 3});
  pool.attrs.set("strides", std::vector<int64_t>{2, 2});
  pool.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.nodes = {conv, pool};
  g.outputs.push_back(y);
  EXPECT_TRUE(g.topologicalSort().isOk());
  return g;
}

void annotate(ir::Graph& g, const Dims& input) {
  auto program = runtime::analyzeShapeProgram(g);
  auto shapes = runtime::resolveShapes(g, program, {{g.inputs[0], input}});
  ASSERT_TRUE(shapes.hasValue()) << shapes.status().toString();
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (shapes->dtypes[v] == DataType::kUndefined || g.isConstant(static_cast<ir::ValueId>(v))) continue;
    g.values[v].rankKnown = true;
    g.values[v].dims = shapes->dims[v];
    g.values[v].dtype = shapes->dtypes[v];
  }
}

int count(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const auto& node : g.nodes) n += node.op == op;
  return n;
}

TEST(StemSpaceToDepth, NhwcPassPacksAStrideTwoStemAndItComputesTheSameConv) {
  Tensor w;
  ir::Graph g = stemGraph(37, 53, 7, 2, 3, w);
  annotate(g, {2, 3, 37, 53});
  const Dims convOut = g.values[g.findValue("c")].dims;
  auto converted = passes::convertToNhwc(g);
  ASSERT_TRUE(converted.hasValue()) << converted.status().toString();
  annotate(g, {2, 3, 37, 53});
  EXPECT_EQ(count(g, OpKind::kSpaceToDepth), 1);
  EXPECT_EQ(count(g, OpKind::kPad), 0) << "the channel Pad is replaced by the packing node";
  EXPECT_EQ(count(g, OpKind::kTranspose), 1) << "only the one back to NCHW at the output";
  const ir::Node* pack = nullptr;
  const ir::Node* conv = nullptr;
  for (const auto& n : g.nodes) {
    if (n.op == OpKind::kSpaceToDepth) pack = &n;
    if (n.op == OpKind::kConv) conv = &n;
  }
  ASSERT_TRUE(pack && conv);
  EXPECT_EQ(pack->inputs[0], g.inputs[0]) << "the packing node reads the NCHW input directly";
  EXPECT_EQ(pack->attrs.getString("data_format", ""), "NHWC");
  EXPECT_EQ(pack->attrs.getInt("output_channels", 0), 16);
  EXPECT_EQ(pack->attrs.getInt("blocksize", 0), 2);
  EXPECT_EQ(pack->attrs.getInts("pads"), (std::vector<int64_t>{3, 3, 4, 4}));
  EXPECT_EQ(conv->inputs[0], pack->outputs[0]);
  EXPECT_EQ(conv->attrs.getString("data_format", ""), "NHWC");
  EXPECT_EQ(conv->attrs.getInts("strides"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(conv->attrs.getInts("pads"), (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(conv->attrs.getInts("kernel_shape"), (std::vector<int64_t>{4, 4}));
  const Dims nhwcOut{convOut[0], convOut[2], convOut[3], convOut[1]};
  EXPECT_EQ(g.values[conv->outputs[0]].dims, nhwcOut) << "the conv's output size is unchanged";

  // The rewritten graph's packing node and weights compute the original conv (bias aside: it is unchanged).
  const Tensor x = randomTensor({2, 3, 37, 53}, 21);
  auto z = runSpaceToDepth(x, pack->attrs);
  ASSERT_TRUE(z.hasValue()) << z.status().toString();
  const Tensor* w2 = g.constantOf(conv->inputs[1]);
  ASSERT_NE(w2, nullptr);
  Dims wantDims, gotDims;
  std::vector<double> magnitude;
  const auto want = directConv(x, w, {2, 2, 3, 3, 3, 3}, wantDims, &magnitude);
  const auto got = packedConv(*z, *w2, gotDims);
  ASSERT_EQ(wantDims, gotDims);
  expectSameConv(want, magnitude, got);
}

TEST(StemSpaceToDepth, NhwcPassKeepsTransposeAndChannelPadForAStrideOneStem) {
  Tensor w;
  ir::Graph g = stemGraph(20, 24, 3, 1, 1, w);
  annotate(g, {2, 3, 20, 24});
  auto converted = passes::convertToNhwc(g);
  ASSERT_TRUE(converted.hasValue()) << converted.status().toString();
  EXPECT_EQ(count(g, OpKind::kSpaceToDepth), 0);
  EXPECT_EQ(count(g, OpKind::kPad), 1);
  EXPECT_EQ(count(g, OpKind::kTranspose), 2);
}

// ---- the importer: the extension attributes never come from a model file

onnx::testing::ModelBuilder spaceToDepthModel(bool strayPads) {
  using namespace onnx::testing;
  ModelBuilder m;
  m.opset = 17;
  m.inputs.push_back(valueInfo("x", kFloat, {1, 3, 4, 4}));
  m.outputs.push_back(valueInfo("y", kFloat, {1, 12, 2, 2}));
  std::vector<Proto> attrs{attrInt("blocksize", 2)};
  if (strayPads) attrs.push_back(attrInts("pads", {1, 1, 1, 1}));
  m.nodes.push_back(node("SpaceToDepth", {"x"}, {"y"}, "s2d", attrs));
  return m;
}

TEST(StemSpaceToDepth, ImporterRefusesExtensionAttributesInOnnxFiles) {
  auto plain = onnx::importUnchecked(spaceToDepthModel(false));
  ASSERT_TRUE(plain.hasValue()) << plain.status().toString();
  auto stray = onnx::importUnchecked(spaceToDepthModel(true));
  ASSERT_FALSE(stray.hasValue()) << "a SpaceToDepth with 'pads' was imported";
  EXPECT_NE(stray.status().message().find("'pads'"), std::string::npos) << stray.status().toString();
  EXPECT_NE(stray.status().message().find("s2d"), std::string::npos) << stray.status().toString();
}

}  // namespace
}  // namespace kiln

// passes::fuseAttention and FusedAttention on the CPU: each exporter pattern
// (unit/attention_graphs.h) becomes one node named after its last MatMul, and
// the fused graph's output matches both the unfused graph on the CPU backend
// and an independent float64 reference, at several shapes including odd
// sequence lengths, cross attention and batch > 1 (tolerance |kiln - ref| <=
// 1e-4 * (|ref| + rms(ref)) + 1e-6: float32 dot products and sums of at most a
// few hundred terms). Patterns whose meaning would change stay unfused. ONNX
// Attention (opset 23) imports onto the same op, 4-D and 3-D with grouped
// heads; what it cannot map is refused with the node's name.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "builder/shape_annotation.h"
#include "onnx/importer.h"
#include "onnx/testing/onnx_model_writer.h"
#include "passes/passes.h"
#include "unit/attention_graphs.h"

namespace kiln {
namespace {

using namespace attentiontest;
using fusedtest::annotate;
using fusedtest::runGraph;

backends::Backend& cpu() {
  static auto backend = backends::createBackend(DeviceKind::kCpu).value();
  return *backend;
}

int countOps(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const auto& node : g.nodes) n += node.op == op ? 1 : 0;
  return n;
}

const ir::Node* attentionNode(const ir::Graph& g) {
  for (const auto& node : g.nodes)
    if (node.op == OpKind::kFusedAttention) return &node;
  return nullptr;
}

/// Annotates `g`, fuses a copy; returns {unfused, fused, how many fused}.
struct Prepared {
  ir::Graph unfused, fused;
  int count = -1;
};
Prepared prepare(GraphBuilder b) {
  Prepared p;
  EXPECT_TRUE(annotate(b.g).isOk());
  p.unfused = b.g;
  p.fused = b.g;
  auto n = passes::fuseAttention(p.fused);
  EXPECT_TRUE(n.hasValue()) << n.status().toString();
  p.count = n.hasValue() ? *n : -1;
  const Status s = annotate(p.fused);
  EXPECT_TRUE(s.isOk()) << s.toString();
  return p;
}

void expectNear(const Tensor& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.elementCount(), static_cast<int64_t>(want.size())) << what;
  double rms = 0;
  for (double w : want) rms += w * w;
  rms = std::sqrt(rms / std::max<size_t>(1, want.size()));
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = fusedtest::elementOf(got, static_cast<int64_t>(i));
    if (!(std::fabs(g - want[i]) <= 1e-4 * (std::fabs(want[i]) + rms) + 1e-6) && ++bad <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", reference " << want[i];
  }
  EXPECT_EQ(bad, 0) << what << ": of " << want.size();
}

/// Runs both graphs on the CPU, compares each with `want` (float64) and with
/// each other.
void checkRuns(const Prepared& p, const std::map<std::string, Tensor>& inputs, const std::vector<double>& want,
               const std::string& what) {
  auto unfused = runGraph(cpu(), p.unfused, inputs);
  ASSERT_TRUE(unfused.hasValue()) << unfused.status().toString();
  auto fused = runGraph(cpu(), p.fused, inputs);
  ASSERT_TRUE(fused.hasValue()) << fused.status().toString();
  const std::string out = p.fused.values[p.fused.outputs[0]].name;
  expectNear(fused->at(out), want, what + " fused");
  expectNear(unfused->at(out), want, what + " unfused");
  expectNear(fused->at(out), asDoubles(unfused->at(out)), what + " fused vs unfused");
}

/// Random non-zero float inputs (bool ones are left to the test).
std::map<std::string, Tensor> floatInputs(const ir::Graph& g, uint32_t seed) {
  std::map<std::string, Tensor> m;
  for (ValueId in : g.inputs)
    if (g.values[in].dtype == DataType::kFloat32)
      m[g.values[in].name] = fusedtest::randomTensor(DataType::kFloat32, g.values[in].dims, seed++);
  return m;
}

/// An additive padding mask [B,1,1,Sk]: batch b masks its last b keys with
/// -10000 (BERT's), random elsewhere.
Tensor paddingMask(const Shape& s, uint32_t seed) {
  Tensor t = fusedtest::randomTensor(DataType::kFloat32, {s.batch, 1, 1, s.keys}, seed, -1, 1);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t j = std::max<int64_t>(1, s.keys - b); j < s.keys; ++j) t.dataAs<float>()[b * s.keys + j] = -10000.f;
  return t;
}

const Shape kShapes[] = {{1, 1, 1, 1, 8}, {2, 3, 7, 7, 16}, {3, 2, 13, 13, 64}, {1, 4, 33, 33, 32}, {2, 2, 5, 9, 24}};

TEST(FuseAttention, LegacyBertWithPaddingMask) {
  for (const Shape& s : kShapes) {
    if (s.queries != s.keys) continue;  // self-attention
    Prepared p = prepare(legacyBert(s, Mask::kPadding));
    ASSERT_EQ(p.count, 1);
    ASSERT_EQ(p.fused.nodes.size(),
              2u);  // the K Transpose, re-permuted to produce K, and the attention
    const ir::Node* n = attentionNode(p.fused);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->name, "attention_out");
    EXPECT_EQ(n->attrs.getStrings("fused_nodes"),
              (std::vector<std::string>{"softmax", "mask_add", "scale_div", "scores"}));
    EXPECT_NEAR(n->attrs.getFloat("scale", 0), 1 / std::sqrt(static_cast<double>(s.dim)), 1e-7);
    EXPECT_EQ(p.fused.values[n->inputs[1]].dims, (Dims{s.batch, s.heads, s.keys, s.dim}));
    auto inputs = floatInputs(p.unfused, 11);
    inputs["mask"] = paddingMask(s, 5);
    const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]),
               m = asDoubles(inputs["mask"]);
    const auto kAt = [&](int64_t b, int64_t h, int64_t j, int64_t d) {
      return k[((b * s.keys + j) * s.heads + h) * s.dim + d];  // [B,S,H,D]
    };
    const auto want = referenceAttention(
        s, q, kAt, bhsd(v, s, s.keys), [&](int64_t b, int64_t, int64_t j) { return m[b * s.keys + j]; },
        1 / std::sqrt(static_cast<double>(s.dim)));
    checkRuns(p, inputs, want, "legacy BERT " + dimsToString(std::vector<int64_t>{s.batch, s.heads, s.queries, s.dim}));
  }
}

TEST(FuseAttention, LegacySdpaScalesQAndKSeparatelyWithAndWithoutMask) {
  for (const Shape& s : kShapes) {
    for (Mask mask : {Mask::kNone, Mask::kFull, Mask::kCausalConstant}) {
      if (mask == Mask::kCausalConstant && s.queries != s.keys) continue;
      const bool left = s.dim == 16;  // the mask as Add's first operand too
      Prepared p = prepare(legacySdpa(s, mask, 0.37, left));
      ASSERT_EQ(p.count, 1);
      ASSERT_EQ(p.fused.nodes.size(),
                1u);  // Transpose [0,1,3,2] swapped back is the identity: K is
                      // read directly
      const ir::Node* n = attentionNode(p.fused);
      ASSERT_NE(n, nullptr);
      EXPECT_NEAR(n->attrs.getFloat("scale", 0), 0.37, 1e-6);
      EXPECT_EQ(n->inputs.size(), mask == Mask::kFull ? 4u : 3u);  // a constant causal mask becomes is_causal
      EXPECT_EQ(n->attrs.getInt("is_causal", 0), mask == Mask::kCausalConstant ? 1 : 0);
      auto inputs = floatInputs(p.unfused, 23);
      const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]);
      const auto m = mask == Mask::kFull ? asDoubles(inputs["mask"]) : std::vector<double>{};
      std::function<double(int64_t, int64_t, int64_t)> maskAt;
      if (mask == Mask::kFull)
        maskAt = [&](int64_t b, int64_t i, int64_t j) { return m[(b * s.queries + i) * s.keys + j]; };
      if (mask == Mask::kCausalConstant)
        maskAt = [](int64_t, int64_t i, int64_t j) { return j <= i ? 0.0 : -INFINITY; };
      const auto want = referenceAttention(s, q, bhsd(k, s, s.keys), bhsd(v, s, s.keys), maskAt, 0.37);
      checkRuns(p, inputs, want,
                "legacy SDPA mask " + std::to_string(static_cast<int>(mask)) + " Sq " + std::to_string(s.queries) +
                    " Sk " + std::to_string(s.keys));
    }
  }
}

TEST(FuseAttention, DynamoSdpaReshapeTransposeReshape) {
  for (const Shape& s : kShapes) {
    for (Mask mask : {Mask::kNone, Mask::kCausalConstant}) {
      if (mask == Mask::kCausalConstant && s.queries != s.keys) continue;
      Prepared p = prepare(dynamoSdpa(s, mask));
      ASSERT_EQ(p.count, 1);
      ASSERT_EQ(p.fused.nodes.size(), 1u);
      const ir::Node* n = attentionNode(p.fused);
      ASSERT_NE(n, nullptr);
      EXPECT_EQ(p.fused.values[n->inputs[1]].name, "k");
      EXPECT_EQ(n->inputs.size(), 3u);
      EXPECT_EQ(n->attrs.getInt("is_causal", 0), mask == Mask::kCausalConstant ? 1 : 0);
      EXPECT_EQ(n->attrs.getStrings("fused_nodes").size(), mask == Mask::kNone ? 7u : 8u);
      auto inputs = floatInputs(p.unfused, 31);
      const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]);
      std::function<double(int64_t, int64_t, int64_t)> maskAt;
      if (mask == Mask::kCausalConstant)
        maskAt = [](int64_t, int64_t i, int64_t j) { return j <= i ? 0.0 : -INFINITY; };
      const auto want = referenceAttention(s, q, bhsd(k, s, s.keys), bhsd(v, s, s.keys), maskAt,
                                           1 / std::sqrt(static_cast<double>(s.dim)));
      checkRuns(p, inputs, want, "dynamo SDPA Sq " + std::to_string(s.queries) + " Sk " + std::to_string(s.keys));
    }
  }
}

Tensor boolMask(const Shape& s, uint32_t seed, bool oneRowEmpty) {
  std::mt19937 rng(seed);
  Tensor t = Tensor::allocate(DataType::kBool, {s.batch, 1, s.queries, s.keys}).value();
  auto* m = t.dataAs<uint8_t>();
  for (int64_t i = 0; i < t.elementCount(); ++i) m[i] = rng() % 3 != 0;
  for (int64_t r = 0; r < s.batch * s.queries; ++r) m[r * s.keys] = 1;  // every row attends somewhere...
  if (oneRowEmpty)
    for (int64_t j = 0; j < s.keys; ++j) m[j] = 0;  // ...but row 0 of batch 0
  return t;
}

TEST(FuseAttention, DynamoBooleanMaskWithNanGuard) {
  for (const Shape& s : kShapes) {
    Prepared p = prepare(dynamoSdpa(s, Mask::kNone, /*boolMask=*/true));
    ASSERT_EQ(p.count, 1);
    const ir::Node* n = attentionNode(p.fused);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->attrs.getInt("zero_masked_rows", 0), 1);
    ASSERT_EQ(n->inputs.size(), 4u);
    EXPECT_EQ(countOps(p.fused, OpKind::kWhere),
              1);  // Where(m, 0, -max) stays: the fused node takes its output
    EXPECT_EQ(countOps(p.fused, OpKind::kIsNaN), 0);
    auto inputs = floatInputs(p.unfused, 41);
    inputs["bool_mask"] = boolMask(s, 3, false);
    const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]),
               m = asDoubles(inputs["bool_mask"]);
    const auto want = referenceAttention(
        s, q, bhsd(k, s, s.keys), bhsd(v, s, s.keys),
        [&](int64_t b, int64_t i, int64_t j) { return m[(b * s.queries + i) * s.keys + j] ? 0.0 : -INFINITY; },
        1 / std::sqrt(static_cast<double>(s.dim)));
    checkRuns(p, inputs, want, "dynamo bool mask Sq " + std::to_string(s.queries));
  }
}

TEST(FuseAttention, FullyMaskedRowMatchesTheUnfusedGraph) {
  // -FLT_MAX added in float32 swamps the scores: the unfused softmax of such a
  // row is uniform, and so is the fused.
  const Shape s{2, 2, 6, 6, 16};
  Prepared p = prepare(dynamoSdpa(s, Mask::kNone, true));
  ASSERT_EQ(p.count, 1);
  auto inputs = floatInputs(p.unfused, 43);
  inputs["bool_mask"] = boolMask(s, 9, true);
  auto unfused = runGraph(cpu(), p.unfused, inputs);
  auto fused = runGraph(cpu(), p.fused, inputs);
  ASSERT_TRUE(unfused.hasValue() && fused.hasValue());
  expectNear(fused->at("attention_out_out"), asDoubles(unfused->at("attention_out_out")), "fully masked row");
}

TEST(FuseAttention, DynamoMultiheadAttentionReshapesKey) {
  for (const Shape& s : {Shape{2, 4, 7, 7, 16}, Shape{1, 3, 11, 11, 8}}) {
    Prepared p = prepare(dynamoMha(s));
    ASSERT_EQ(p.count, 1);
    const ir::Node* n = attentionNode(p.fused);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(countOps(p.fused, OpKind::kReshape),
              1);  // K [B*H,S,D] -> [B,H,S,D]
    EXPECT_EQ(countOps(p.fused, OpKind::kTranspose), 0);
    EXPECT_EQ(p.fused.values[n->inputs[1]].dims, (Dims{s.batch, s.heads, s.keys, s.dim}));
    auto inputs = floatInputs(p.unfused, 51);
    const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]);
    const auto want = referenceAttention(s, q, bhsd(k, s, s.keys), bhsd(v, s, s.keys), nullptr,
                                         1 / std::sqrt(static_cast<double>(s.dim)));
    checkRuns(p, inputs, want, "dynamo MHA");
  }
}

TEST(FuseAttention, ThePassManagerFusesOnceShapesAreKnown) {
  GraphBuilder b = dynamoSdpa({2, 2, 9, 9, 16}, Mask::kCausalConstant);
  ASSERT_TRUE(annotate(b.g).isOk());
  ASSERT_TRUE(passes::runGraphPasses(b.g, {}).isOk());
  EXPECT_EQ(countOps(b.g, OpKind::kFusedAttention), 1);
  EXPECT_EQ(countOps(b.g, OpKind::kSoftmax), 0);
}

TEST(FuseAttention, ANearlyCausalConstantStaysAMask) {
  // -1e9 instead of -inf in one place is not is_causal (exp(-1e9 - max) is 0 in float32, but only by rounding).
  const Shape s{1, 2, 6, 6, 8};
  GraphBuilder b = legacySdpa(s, Mask::kCausalConstant, 0.3);
  for (auto& [id, t] : b.g.constants)
    if (t.dims() == Dims{s.queries, s.keys}) t.dataAs<float>()[1] = -1e9f;
  Prepared p = prepare(std::move(b));
  ASSERT_EQ(p.count, 1);
  const ir::Node* n = attentionNode(p.fused);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->inputs.size(), 4u);
  EXPECT_EQ(n->attrs.getInt("is_causal", 0), 0);
  auto inputs = floatInputs(p.unfused, 29);
  const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]);
  const auto want = referenceAttention(
      s, q, bhsd(k, s, s.keys), bhsd(v, s, s.keys),
      [](int64_t, int64_t i, int64_t j) { return i == 0 && j == 1 ? -1e9 : j <= i ? 0.0 : -INFINITY; }, 0.3);
  checkRuns(p, inputs, want, "nearly causal");
}

std::vector<double> randomValues(size_t n, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = u(rng);
  return v;
}

TEST(FuseAttention, SwinWindowsWithRelativeBiasAndShiftMask) {
  // 2 images x 4 windows of 16 (and of 9) tokens, 3 heads: bias [1,H,N,N], shift mask [1,nW,1,N,N] of 0 / -100.
  for (const Shape& s : {Shape{8, 3, 16, 16, 8}, Shape{4, 2, 9, 9, 16}}) {
    const int64_t nW = 4, n = s.queries;
    const auto bias = randomValues(static_cast<size_t>(s.heads * n * n), 3, -2, 2);
    std::vector<double> shift = randomValues(static_cast<size_t>(nW * n * n), 4, 0, 1);
    for (double& x : shift) x = x > 0.3 ? 0.0 : -100.0;
    for (bool shifted : {false, true}) {
      Prepared p = prepare(swinWindows(s, nW, bias, shifted ? &shift : nullptr));
      ASSERT_EQ(p.count, 1);
      const ir::Node* node = attentionNode(p.fused);
      ASSERT_NE(node, nullptr);
      ASSERT_EQ(node->inputs.size(), 4u);  // one additive mask
      EXPECT_EQ(countOps(p.fused, OpKind::kSoftmax), 0);
      // Shifted: the fused node sees [B, nW*H, N, D] views and one mask [1, nW*H, N, N].
      const Dims& qd = p.fused.values[node->inputs[0]].dims;
      EXPECT_EQ(qd, shifted ? (Dims{s.batch / nW, nW * s.heads, n, s.dim}) : (Dims{s.batch, s.heads, n, s.dim}));
      auto inputs = floatInputs(p.unfused, 81);
      const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]);
      const auto want = referenceAttentionPerHead(
          s, q, bhsd(k, s, n), bhsd(v, s, n),
          [&](int64_t b, int64_t h, int64_t i, int64_t j) {
            return bias[(h * n + i) * n + j] + (shifted ? shift[((b % nW) * n + i) * n + j] : 0.0);
          },
          1 / std::sqrt(static_cast<double>(s.dim)), std::nan(""));
      checkRuns(p, inputs, want, std::string("Swin ") + (shifted ? "shifted" : "plain") + " N " + std::to_string(n));
    }
  }
}

TEST(FuseAttention, SwinMaskThatVariesWithTheImageStaysUnfused) {
  // A window mask [B, nW, 1, N, N] differs per image: it cannot become one mask over [B, nW*H, N, D].
  const Shape s{8, 2, 4, 4, 8};
  const auto bias = randomValues(2 * 4 * 4, 5, -1, 1);
  const auto mask = randomValues(2 * 4 * 4 * 4, 6, -1, 0);
  EXPECT_EQ(prepare(swinWindows(s, 4, bias, &mask, /*maskImages=*/2)).count, 0);
}

/// Dynamo SDPA's K^T chain with its shapes computed from Shape(`shapeOf`), as the exporter writes at dynamic dims:
/// Reshape(k, [-1, S, D]) -> Transpose -> Reshape(., [B, H, D, S]) with B, H, S, D sliced from the shape.
GraphBuilder dynamoShapeChain(const Shape& s, bool shapeOfValues) {
  GraphBuilder b;
  const Dims dyn{kDynamicDim, s.heads, kDynamicDim, s.dim};
  const ValueId q = b.input("q", dyn), k = b.input("k", dyn), v = b.input("v", dyn);
  ir::Attributes noAttrs;
  const ValueId shape = b.op(OpKind::kShape, {shapeOfValues ? v : k}, {}, "shape");
  const auto slice = [&](int64_t from, int64_t to) {
    return b.op(OpKind::kSlice, {shape, int64Constant(b, {from}), int64Constant(b, {to})});
  };
  const ValueId last = slice(-1, INT64_MAX), second = slice(-2, -1), lead = slice(INT64_MIN, -2);
  const ValueId r1 =
      b.op(OpKind::kReshape,
           {k, b.op(OpKind::kConcat, {int64Constant(b, {-1}), second, last}, attrs({{"axis", int64_t{0}}}))});
  const ValueId t = b.op(OpKind::kTranspose, {r1}, attrs({{"perm", std::vector<int64_t>{0, 2, 1}}}));
  const ValueId kt =
      b.op(OpKind::kReshape, {t, b.op(OpKind::kConcat, {lead, last, second}, attrs({{"axis", int64_t{0}}}))});
  const ValueId root = b.constant({std::sqrt(1.0 / std::sqrt(static_cast<double>(s.dim)))}, {1});
  const ValueId scores = b.op(OpKind::kMatMul, {b.op(OpKind::kMul, {q, root}), b.op(OpKind::kMul, {kt, root})});
  b.output(softmaxAndValues(b, scores, v));
  return b;
}

TEST(FuseAttention, DynamicKeyChainFusesOnlyWhenItsShapesAreKsOwn) {
  for (bool shapeOfValues : {false, true}) {
    GraphBuilder b = dynamoShapeChain({1, 2, 1, 1, 8}, shapeOfValues);
    const Dims lo{1, 2, 2, 8}, hi{3, 2, 19, 8};
    ASSERT_TRUE(builder::annotateShapes(b.g, {{{{"q", lo, hi, hi}, {"k", lo, hi, hi}, {"v", lo, hi, hi}}}}).isOk());
    ir::Graph fused = b.g;
    auto n = passes::fuseAttention(fused);
    ASSERT_TRUE(n.hasValue()) << n.status().toString();
    // Shape(v) equals Shape(k) only when the caller makes them so: with dynamic dims that is not proven.
    EXPECT_EQ(*n, shapeOfValues ? 0 : 1);
    if (shapeOfValues) continue;
    for (const Shape& s : {Shape{1, 2, 2, 2, 8}, Shape{3, 2, 19, 19, 8}, Shape{2, 2, 7, 7, 8}}) {
      ir::Graph atShape = fused, unfusedAtShape = b.g;
      for (ir::Graph* g : {&atShape, &unfusedAtShape})
        for (ValueId in : g->inputs) g->values[in].dims = {s.batch, s.heads, s.keys, s.dim};
      Prepared p;
      p.unfused = unfusedAtShape;
      p.fused = atShape;
      auto inputs = floatInputs(p.unfused, 91);
      const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]);
      const auto want = referenceAttention(s, q, bhsd(k, s, s.keys), bhsd(v, s, s.keys), nullptr,
                                           1 / std::sqrt(static_cast<double>(s.dim)));
      checkRuns(p, inputs, want, "dynamic chain S " + std::to_string(s.keys));
    }
  }
}

/// Legacy SDPA at dynamic shapes: the scale is computed from the head size, sqrt(1 / sqrt(Shape(q)[-1])) on Q and K^T.
GraphBuilder legacySdpaScaleFromShape(int64_t heads, int64_t dim) {
  GraphBuilder b;
  const Dims dyn{kDynamicDim, heads, kDynamicDim, dim};
  const ValueId q = b.input("q", dyn), k = b.input("k", dyn), v = b.input("v", dyn);
  const ValueId size =
      b.op(OpKind::kSlice, {b.op(OpKind::kShape, {q}), int64Constant(b, {-1}), int64Constant(b, {INT64_MAX})});
  const ValueId asFloat = b.op(OpKind::kCast, {size}, attrs({{"to", int64_t{1}}}));
  const ValueId scale = b.op(OpKind::kDiv, {b.constant({1.0}, {}), b.op(OpKind::kSqrt, {asFloat})});
  const ValueId root = b.op(OpKind::kSqrt, {scale});
  const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}));
  const ValueId scores = b.op(OpKind::kMatMul, {b.op(OpKind::kMul, {q, root}), b.op(OpKind::kMul, {kt, root})});
  b.output(softmaxAndValues(b, scores, v));
  return b;
}

TEST(FuseAttention, ScaleFromAStaticHeadSizeFoldsAtDynamicBatchAndSequence) {
  for (bool staticHead : {true, false}) {
    GraphBuilder b = legacySdpaScaleFromShape(2, staticHead ? 16 : kDynamicDim);
    const Dims lo{1, 2, 2, 16}, hi{3, 2, 30, staticHead ? 16 : 32};
    ASSERT_TRUE(builder::annotateShapes(b.g, {{{{"q", lo, hi, hi}, {"k", lo, hi, hi}, {"v", lo, hi, hi}}}}).isOk());
    ASSERT_TRUE(passes::runGraphPasses(b.g, {}).isOk());
    // A head size that varies within the profile leaves the scale a computation, and the attention unfused.
    EXPECT_EQ(countOps(b.g, OpKind::kFusedAttention), staticHead ? 1 : 0);
    if (!staticHead) continue;
    const ir::Node* n = attentionNode(b.g);
    ASSERT_NE(n, nullptr);
    EXPECT_NEAR(n->attrs.getFloat("scale", 0), 0.25, 1e-7);
  }
}

TEST(FuseAttention, AReshapeThatReinterpretsKBeforeTheChainMakesItsOutputTheKey) {
  // k [2,2,8,5] viewed as [2,2,5,8] (not a regrouping of whole matrices), then Transpose and a no-op Reshape: K is the
  // view, never k itself.
  GraphBuilder b;
  const ValueId q = b.input("q", {2, 2, 5, 8}), k = b.input("k", {2, 2, 8, 5}), v = b.input("v", {2, 2, 5, 8});
  const ValueId view = b.op(OpKind::kReshape, {k, int64Constant(b, {2, 2, 5, 8})}, {}, "k_view");
  const ValueId t = b.op(OpKind::kTranspose, {view}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}));
  const ValueId kt = b.op(OpKind::kReshape, {t, int64Constant(b, {2, 2, 8, 5})});
  b.output(softmaxAndValues(b, b.op(OpKind::kMul, {b.op(OpKind::kMatMul, {q, kt}), b.scalar(0.3)}), v));
  Prepared p = prepare(std::move(b));
  ASSERT_EQ(p.count, 1);
  const ir::Node* n = attentionNode(p.fused);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(p.fused.values[n->inputs[1]].dims, (Dims{2, 2, 5, 8}));
  auto inputs = floatInputs(p.unfused, 97);
  const auto q64 = asDoubles(inputs["q"]), k64 = asDoubles(inputs["k"]), v64 = asDoubles(inputs["v"]);
  const Shape s{2, 2, 5, 5, 8};
  // The view keeps k's memory order: K(b,h,j,d) is element ((b*2+h)*5+j)*8+d of k.
  checkRuns(p, inputs, referenceAttention(s, q64, bhsd(k64, s, 5), bhsd(v64, s, 5), nullptr, 0.3), "k view");
}

// ---- what must stay unfused

/// The reason `kiln inspect` shows on the Softmax of an attention left unfused ("" when it carries none).
std::string unfusedReason(const ir::Graph& g) {
  for (const auto& n : g.nodes)
    if (n.op == OpKind::kSoftmax) return n.attrs.getString("unfused_attention", "");
  return "no softmax";
}

TEST(FuseAttention, AnAttentionLeftUnfusedSaysWhy) {
  {  // a scale that is not a constant: attention's shape, so the reason is recorded on the Softmax
    GraphBuilder b;
    const ValueId q = b.input("q", {2, 2, 5, 8}), k = b.input("k", {2, 2, 5, 8}), v = b.input("v", {2, 2, 5, 8});
    const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}));
    const ValueId scores = b.op(OpKind::kMul, {b.op(OpKind::kMatMul, {q, kt}), b.input("c", {1})});
    b.output(softmaxAndValues(b, scores, v));
    const Prepared p = prepare(b);
    EXPECT_EQ(p.count, 0);
    EXPECT_NE(unfusedReason(p.fused).find("constant scale"), std::string::npos) << unfusedReason(p.fused);
  }
  {  // a Softmax that feeds no MatMul is not attention: no reason to give
    GraphBuilder b;
    b.output(b.op(OpKind::kSoftmax, {b.input("x", {2, 5})}, attrs({{"axis", int64_t{-1}}})));
    EXPECT_EQ(unfusedReason(prepare(b).fused), "");
  }
  {  // fused: nothing recorded
    const Prepared p = prepare(legacySdpa(Shape{2, 2, 5, 5, 8}, Mask::kNone, 0.5));
    EXPECT_EQ(p.count, 1);
    EXPECT_EQ(unfusedReason(p.fused), "no softmax");
  }
}

TEST(FuseAttention, LeavesOtherPatternsAlone) {
  const Shape s{2, 2, 5, 5, 8};
  {  // softmax over another axis
    GraphBuilder b = legacySdpa(s, Mask::kNone, 0.5);
    for (auto& n : b.g.nodes)
      if (n.op == OpKind::kSoftmax) n.attrs.set("axis", int64_t{2});
    EXPECT_EQ(prepare(b).count, 0);
  }
  {  // a scale that is not a constant
    GraphBuilder b;
    const ValueId q = b.input("q", {2, 2, 5, 8}), k = b.input("k", {2, 2, 5, 8}), v = b.input("v", {2, 2, 5, 8});
    const ValueId c = b.input("c", {1});
    const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}));
    const ValueId scores = b.op(OpKind::kMul, {b.op(OpKind::kMatMul, {q, kt}), c});
    b.output(softmaxAndValues(b, scores, v));
    EXPECT_EQ(prepare(b).count, 0);
  }
  {  // the scores are also a graph output
    GraphBuilder b = legacyBert(s, Mask::kNone);
    b.output(b.g.findValue("scores_out"));
    EXPECT_EQ(prepare(b).count, 0);
  }
  {  // the probabilities are read twice
    GraphBuilder b = legacyBert(s, Mask::kNone);
    b.output(b.g.findValue("softmax_out"));
    EXPECT_EQ(prepare(b).count, 0);
  }
  {  // a mask that widens the scores' query dim (one query row broadcast to
    // five)
    GraphBuilder b;
    const ValueId q = b.input("q", {2, 2, 1, 8}), k = b.input("k", {2, 2, 5, 8}), v = b.input("v", {2, 2, 5, 8});
    const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}));
    const ValueId scores = b.op(OpKind::kAdd, {b.op(OpKind::kMatMul, {q, kt}), b.input("mask", {2, 1, 5, 5})});
    b.output(softmaxAndValues(b, scores, v));
    EXPECT_EQ(prepare(b).count, 0);
  }
  {  // K^T a constant matrix, not a transposed K
    GraphBuilder b;
    const ValueId q = b.input("q", {5, 8}), v = b.input("v", {5, 8});
    const ValueId kt = b.constant(std::vector<double>(40, 0.25), {8, 5});
    b.output(softmaxAndValues(b, b.op(OpKind::kMatMul, {q, kt}), v));
    EXPECT_EQ(prepare(b).count, 0);
  }
  {  // a zero scale (Div by 0 would be inf): refused
    GraphBuilder b;
    const ValueId q = b.input("q", {2, 2, 5, 8}), k = b.input("k", {2, 2, 5, 8}), v = b.input("v", {2, 2, 5, 8});
    const ValueId kt = b.op(OpKind::kTranspose, {k}, attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}}));
    const ValueId scores = b.op(OpKind::kDiv, {b.op(OpKind::kMatMul, {q, kt}), b.scalar(0)});
    b.output(softmaxAndValues(b, scores, v));
    EXPECT_EQ(prepare(b).count, 0);
  }
}

// ---- ONNX Attention (opset 23)

namespace ot = onnx::testing;

Expected<std::unique_ptr<ir::Graph>> importAttention(const std::vector<std::pair<std::string, Dims>>& inputs,
                                                     int32_t maskType, const std::vector<ot::Proto>& attributes,
                                                     std::vector<std::string> nodeInputs = {},
                                                     std::vector<std::string> nodeOutputs = {"y"}) {
  ot::ModelBuilder m;
  m.opset = 23;
  m.irVersion = 10;
  for (const auto& [name, dims] : inputs) {
    std::vector<ot::Dim> d(dims.begin(), dims.end());
    m.inputs.push_back(ot::valueInfo(name, name == "mask" ? maskType : ot::kFloat, d));
  }
  if (nodeInputs.empty())
    for (const auto& in : inputs) nodeInputs.push_back(in.first);
  m.nodes.push_back(ot::node("Attention", nodeInputs, nodeOutputs, "attn", attributes));
  m.outputs.push_back(ot::valueInfo("y", ot::kFloat, {}, false));
  const std::string bytes = m.serialize();
  return onnx::importModel(bytes.data(), bytes.size(), "");
}

TEST(OnnxAttention, FourDimensionalCausalWithAdditiveMask) {
  const Shape s{2, 3, 7, 7, 16};
  auto g = importAttention({{"q", {2, 3, 7, 16}}, {"k", {2, 3, 7, 16}}, {"v", {2, 3, 7, 16}}, {"mask", {7, 7}}},
                           ot::kFloat, {ot::attrInt("is_causal", 1), ot::attrFloat("scale", 0.3f)});
  ASSERT_TRUE(g.hasValue()) << g.status().toString();
  ASSERT_EQ((*g)->nodes.size(), 1u);
  EXPECT_EQ((*g)->nodes[0].op, OpKind::kFusedAttention);
  EXPECT_EQ((*g)->nodes[0].name, "attn");
  ASSERT_TRUE(annotate(**g).isOk());
  auto inputs = floatInputs(**g, 61);
  auto out = runGraph(cpu(), **g, inputs);
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]),
             m = asDoubles(inputs["mask"]);
  const auto want = referenceAttention(
      s, q, bhsd(k, s, s.keys), bhsd(v, s, s.keys),
      [&](int64_t, int64_t i, int64_t j) { return j <= i ? m[i * s.keys + j] : -INFINITY; }, 0.3f);
  expectNear(out->at("y"), want, "ONNX Attention 4-D causal");
}

TEST(OnnxAttention, ThreeDimensionalGroupedHeadsWithBoolMaskAndDefaultScale) {
  // Q [B, Sq, 4 heads * 8], K/V [B, Sk, 2 heads * 8]: query head h reads K/V
  // head h / 2.
  const int64_t B = 2, Sq = 5, Sk = 9, Hq = 4, Hkv = 2, D = 8;
  auto g = importAttention(
      {{"q", {B, Sq, Hq * D}}, {"k", {B, Sk, Hkv * D}}, {"v", {B, Sk, Hkv * D}}, {"mask", {B, 1, Sq, Sk}}}, ot::kBool,
      {ot::attrInt("q_num_heads", Hq), ot::attrInt("kv_num_heads", Hkv)});
  ASSERT_TRUE(g.hasValue()) << g.status().toString();
  ASSERT_TRUE(annotate(**g).isOk());
  EXPECT_EQ((*g)->values[(*g)->outputs[0]].dims, (Dims{B, Sq, Hq * D}));
  auto inputs = floatInputs(**g, 71);
  const Shape ms{B, 1, Sq, Sk, D};
  inputs["mask"] = boolMask(ms, 4, false);
  auto out = runGraph(cpu(), **g, inputs);
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  const auto q = asDoubles(inputs["q"]), k = asDoubles(inputs["k"]), v = asDoubles(inputs["v"]),
             m = asDoubles(inputs["mask"]);
  // The reference in [B,H,S,D] order, then packed back to [B,Sq,H*D].
  const Shape s{B, Hq, Sq, Sk, D};
  std::vector<double> qh(static_cast<size_t>(B * Hq * Sq * D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Sq; ++i)
        for (int64_t d = 0; d < D; ++d) qh[((b * Hq + h) * Sq + i) * D + d] = q[(b * Sq + i) * Hq * D + h * D + d];
  const auto packedKv = [&](const std::vector<double>& t) {
    return [&t](int64_t b, int64_t h, int64_t j, int64_t d) { return t[(b * Sk + j) * Hkv * D + (h / 2) * D + d]; };
  };
  const auto ref = referenceAttention(
      s, qh, packedKv(k), packedKv(v),
      [&](int64_t b, int64_t i, int64_t j) { return m[(b * Sq + i) * Sk + j] ? 0.0 : -INFINITY; },
      1 / std::sqrt(static_cast<double>(D)));
  std::vector<double> want(ref.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Sq; ++i)
        for (int64_t d = 0; d < D; ++d) want[(b * Sq + i) * Hq * D + h * D + d] = ref[((b * Hq + h) * Sq + i) * D + d];
  expectNear(out->at("y"), want, "ONNX Attention 3-D GQA");
}

TEST(OnnxAttention, WhatItCannotMapIsRefusedWithTheNodeName) {
  const std::vector<std::pair<std::string, Dims>> qkv = {{"q", {1, 2, 4, 8}}, {"k", {1, 2, 4, 8}}, {"v", {1, 2, 4, 8}}};
  auto softcap = importAttention(qkv, ot::kFloat, {ot::attrFloat("softcap", 30.f)});
  ASSERT_FALSE(softcap.hasValue());
  EXPECT_NE(softcap.status().message().find("'attn'"), std::string::npos) << softcap.status().toString();
  EXPECT_NE(softcap.status().message().find("softcap"), std::string::npos) << softcap.status().toString();

  auto withCache = qkv;
  withCache.push_back({"past_key", {1, 2, 3, 8}});
  auto cache = importAttention(withCache, ot::kFloat, {}, {"q", "k", "v", "", "past_key"});
  ASSERT_FALSE(cache.hasValue());
  EXPECT_NE(cache.status().message().find("'attn'"), std::string::npos) << cache.status().toString();
  EXPECT_NE(cache.status().message().find("past_key"), std::string::npos) << cache.status().toString();

  // Used extra outputs are refused; unused ones are dropped.
  auto extra = importAttention(qkv, ot::kFloat, {}, {}, {"y", "present_key"});
  EXPECT_TRUE(extra.hasValue()) << extra.status().toString();
}

}  // namespace
}  // namespace kiln

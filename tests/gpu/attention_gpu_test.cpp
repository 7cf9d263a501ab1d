// FusedAttention on CUDA (kiln issue 13): the own flash-attention kernel against the CPU backend (the reference,
// DESIGN.md rule 8) on the same random non-zero inputs, in float32, float16 and bfloat16, with no mask, additive
// padding and full masks, boolean masks, causal, odd and unequal sequence lengths, batch > 1, head sizes 8 to 256,
// grouped heads in the 3-D layout, and the exporter patterns fused by passes::fuseAttention. The narrow variants give
// both backends the same float16/bfloat16 inputs; the CPU computes in float32 and rounds once, CUDA keeps float32
// scores, statistics and sums and rounds once. Tolerances, per element, with rms the output's RMS:
//   float32:  |cuda - cpu| <= 2e-5 * (|cpu| + rms) + 1e-6 (summation order and the online rescaling differ);
//   float16:  <= 2e-3 * (|cpu| + rms) + 1e-4 (a half ulp is 4.9e-4 relative; two roundings may fall apart),
//             cosine similarity >= 0.99999;
//   bfloat16: <= 1.6e-2 * (|cpu| + rms) + 1e-3 (a bfloat16 ulp is 3.9e-3), cosine >= 0.9999.
// NaN (a row with nothing to attend to, without zero_masked_rows) must appear at the same places on both.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "passes/passes.h"
#include "unit/attention_graphs.h"

namespace kiln {
namespace {

using namespace attentiontest;
using fusedtest::annotate;
using fusedtest::runGraph;

double valueAt(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32:
      return t.dataAs<float>()[i];
    case DataType::kFloat16:
      return halfBitsToFloat(t.dataAs<uint16_t>()[i]);
    case DataType::kBFloat16:
      return bfloat16BitsToFloat(t.dataAs<uint16_t>()[i]);
    default:
      return std::nan("");
  }
}

/// Random non-zero values in [-2, 2] in `type` (rounded once from float32).
Tensor randomData(DataType type, const Dims& dims, uint32_t seed, double lo = -2, double hi = 2) {
  const Tensor f = fusedtest::randomTensor(DataType::kFloat32, dims, seed, lo, hi);
  if (type == DataType::kFloat32) return f;
  Tensor t = Tensor::allocate(type, dims).value();
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    const float v = f.dataAs<float>()[i];
    t.dataAs<uint16_t>()[i] = type == DataType::kFloat16 ? floatToHalfBits(v) : floatToBfloat16Bits(v);
  }
  return t;
}

struct Case {
  std::string label;
  Dims q, k, v;
  enum MaskKind { kNone, kAdditive, kBool } mask = kNone;
  Dims maskDims;
  ir::Attributes attrs;
  bool emptyRow = false;  // the bool mask masks all of row 0
};

class AttentionGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cuda = backends::createBackend(DeviceKind::kCuda);
    if (!cuda) GTEST_SKIP() << "no CUDA device: " << cuda.status().toString();
    cuda_ = std::move(cuda.value());
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
  }

  /// Compares one graph's outputs on both backends.
  void compare(const ir::Graph& g, const std::map<std::string, Tensor>& inputs, const std::string& label) {
    auto want = runGraph(*cpu_, g, inputs);
    ASSERT_TRUE(want.hasValue()) << label << " CPU: " << want.status().toString();
    auto got = runGraph(*cuda_, g, inputs);
    ASSERT_TRUE(got.hasValue()) << label << " CUDA: " << got.status().toString();
    for (const auto& [name, w] : *want) {
      const Tensor& c = got->at(name);
      ASSERT_EQ(c.elementCount(), w.elementCount());
      const DataType type = w.dtype();
      const double rtol = type == DataType::kFloat32 ? 2e-5 : type == DataType::kFloat16 ? 2e-3 : 1.6e-2;
      const double atol = type == DataType::kFloat32 ? 1e-6 : type == DataType::kFloat16 ? 1e-4 : 1e-3;
      const double minCosine = type == DataType::kFloat32 ? 0.999999 : type == DataType::kFloat16 ? 0.99999 : 0.9999;
      double rms = 0, dot = 0, nw = 0, nc = 0;
      int64_t finite = 0;
      for (int64_t i = 0; i < w.elementCount(); ++i) {
        const double x = valueAt(w, i);
        if (std::isnan(x)) continue;
        rms += x * x;
        ++finite;
      }
      rms = std::sqrt(rms / std::max<int64_t>(1, finite));
      int bad = 0;
      for (int64_t i = 0; i < w.elementCount(); ++i) {
        const double x = valueAt(w, i), y = valueAt(c, i);
        if (std::isnan(x) || std::isnan(y)) {
          if (std::isnan(x) != std::isnan(y) && ++bad <= 5)
            ADD_FAILURE() << label << ": element " << i << " is " << y << " on CUDA, " << x << " on the CPU";
          continue;
        }
        dot += x * y;
        nw += x * x;
        nc += y * y;
        if (!(std::fabs(x - y) <= rtol * (std::fabs(x) + rms) + atol) && ++bad <= 5)
          ADD_FAILURE() << label << ": element " << i << " is " << y << " on CUDA, " << x << " on the CPU";
      }
      EXPECT_EQ(bad, 0) << label << " (" << dataTypeName(type) << ", " << w.elementCount() << " elements)";
      if (nw > 0 && nc > 0) EXPECT_GE(dot / std::sqrt(nw * nc), minCosine) << label;
    }
  }

  void run(const Case& c, DataType type) {
    GraphBuilder b{.dtype = type};
    std::vector<ValueId> in = {b.input("q", c.q), b.input("k", c.k), b.input("v", c.v)};
    if (c.mask == Case::kAdditive) in.push_back(b.input("mask", c.maskDims));
    if (c.mask == Case::kBool) in.push_back(boolInput(b, "mask", c.maskDims));
    b.output(b.op(OpKind::kFusedAttention, in, c.attrs, "attention"));
    const Status s = annotate(b.g);
    ASSERT_TRUE(s.isOk()) << c.label << ": " << s.toString();
    std::map<std::string, Tensor> inputs;
    uint32_t seed = 1000;
    for (const char* name : {"q", "k", "v"})
      inputs[name] = randomData(type, b.g.values[b.g.findValue(name)].dims, seed++);
    if (c.mask == Case::kAdditive) inputs["mask"] = randomData(type, c.maskDims, seed++, -3, 3);
    if (c.mask == Case::kBool) {
      Tensor m = Tensor::allocate(DataType::kBool, c.maskDims).value();
      std::mt19937 rng(seed);
      const int64_t keys = c.maskDims.back();
      for (int64_t i = 0; i < m.elementCount(); ++i) m.dataAs<uint8_t>()[i] = (i % keys == 0) || rng() % 3 != 0;
      if (c.emptyRow)
        for (int64_t j = 0; j < keys; ++j) m.dataAs<uint8_t>()[j] = 0;
      inputs["mask"] = std::move(m);
    }
    compare(b.g, inputs, c.label + " " + dataTypeName(type));
  }

  std::unique_ptr<backends::Backend> cuda_, cpu_;
};

ir::Attributes causal() { return fusedtest::attrs({{"is_causal", int64_t{1}}}); }

std::vector<Case> cases() {
  std::vector<Case> list;
  for (int64_t d : {32, 64, 80, 128}) {
    const std::string dim = " D" + std::to_string(d);
    list.push_back({"plain" + dim, {2, 3, 77, d}, {2, 3, 77, d}, {2, 3, 77, d}});
    list.push_back({"padding mask" + dim, {3, 2, 45, d}, {3, 2, 45, d}, {3, 2, 45, d}, Case::kAdditive, {3, 1, 1, 45}});
    list.push_back({"causal" + dim, {2, 2, 129, d}, {2, 2, 129, d}, {2, 2, 129, d}, Case::kNone, {}, causal()});
    list.push_back(
        {"cross full mask" + dim, {2, 2, 5, d}, {2, 2, 300, d}, {2, 2, 300, d}, Case::kAdditive, {2, 2, 5, 300}});
    list.push_back({"bool mask + causal" + dim,
                    {1, 4, 33, d},
                    {1, 4, 33, d},
                    {1, 4, 33, d},
                    Case::kBool,
                    {1, 1, 33, 33},
                    causal()});
  }
  list.push_back({"head size 8, one query", {1, 1, 1, 8}, {1, 1, 1, 8}, {1, 1, 1, 8}});
  list.push_back({"head size 256, 3-D ranks", {6, 19, 256}, {6, 23, 256}, {6, 23, 256}});
  list.push_back({"value size differs", {2, 2, 17, 64}, {2, 2, 31, 64}, {2, 2, 31, 40}});
  list.push_back(
      {"causal, more keys than queries", {1, 2, 40, 64}, {1, 2, 70, 64}, {1, 2, 70, 64}, Case::kNone, {}, causal()});
  list.push_back({"broadcast K/V heads", {2, 4, 21, 32}, {2, 1, 21, 32}, {2, 1, 21, 32}});
  list.push_back({"3-D grouped heads",
                  {2, 37, 8 * 64},
                  {2, 53, 2 * 64},
                  {2, 53, 2 * 64},
                  Case::kBool,
                  {2, 1, 37, 53},
                  fusedtest::attrs({{"q_num_heads", int64_t{8}}, {"kv_num_heads", int64_t{2}}, {"scale", 0.11f}})});
  Case empty{"empty row, NaN", {2, 2, 9, 32}, {2, 2, 9, 32}, {2, 2, 9, 32}, Case::kBool, {2, 1, 9, 9}};
  empty.emptyRow = true;
  list.push_back(empty);
  empty.label = "empty row, zero_masked_rows";
  empty.attrs = fusedtest::attrs({{"zero_masked_rows", int64_t{1}}});
  list.push_back(empty);
  return list;
}

TEST_F(AttentionGpu, Float32MatchesTheCpu) {
  for (const Case& c : cases()) run(c, DataType::kFloat32);
}

TEST_F(AttentionGpu, Float16MatchesTheCpu) {
  for (const Case& c : cases()) run(c, DataType::kFloat16);
}

TEST_F(AttentionGpu, BFloat16MatchesTheCpu) {
  for (const Case& c : cases()) run(c, DataType::kBFloat16);
}

TEST_F(AttentionGpu, LongSequence) {
  run({"BERT-large-ish seq 512", {2, 16, 512, 64}, {2, 16, 512, 64}, {2, 16, 512, 64}, Case::kAdditive, {2, 1, 1, 512}},
      DataType::kFloat16);
}

TEST_F(AttentionGpu, FusedExporterPatternsMatchTheUnfusedCpuGraph) {
  const Shape s{2, 3, 37, 37, 64};
  for (auto [label, builder] :
       std::vector<std::pair<std::string, GraphBuilder>>{{"legacy BERT", legacyBert(s, Mask::kPadding)},
                                                         {"legacy SDPA", legacySdpa(s, Mask::kFull, 0.2)},
                                                         {"dynamo SDPA causal", dynamoSdpa(s, Mask::kCausalConstant)},
                                                         {"dynamo MHA", dynamoMha(s)}}) {
    ir::Graph unfused = builder.g;
    ASSERT_TRUE(annotate(unfused).isOk());
    ir::Graph fused = unfused;
    auto n = passes::fuseAttention(fused);
    ASSERT_TRUE(n.hasValue() && *n == 1) << label;
    ASSERT_TRUE(annotate(fused).isOk());
    std::map<std::string, Tensor> inputs;
    uint32_t seed = 77;
    for (ValueId in : unfused.inputs)
      inputs[unfused.values[in].name] = randomData(DataType::kFloat32, unfused.values[in].dims, seed++);
    auto want = runGraph(*cpu_, unfused, inputs);
    ASSERT_TRUE(want.hasValue()) << want.status().toString();
    auto got = runGraph(*cuda_, fused, inputs);
    ASSERT_TRUE(got.hasValue()) << label << ": " << got.status().toString();
    for (const auto& [name, w] : *want) {
      double rms = 0;
      for (int64_t i = 0; i < w.elementCount(); ++i) rms += valueAt(w, i) * valueAt(w, i);
      rms = std::sqrt(rms / w.elementCount());
      int bad = 0;
      for (int64_t i = 0; i < w.elementCount(); ++i) {
        const double x = valueAt(w, i), y = valueAt(got->at(name), i);
        if (!(std::fabs(x - y) <= 2e-5 * (std::fabs(x) + rms) + 1e-6) && ++bad <= 5)
          ADD_FAILURE() << label << ": element " << i << " is " << y << " fused on CUDA, " << x
                        << " unfused on the CPU";
      }
      EXPECT_EQ(bad, 0) << label;
    }
  }
}

}  // namespace
}  // namespace kiln

// Real torch 2.11 exports of attention with dynamic batch AND sequence (committed under tests/models/attention_dynamic/
// by `make_attention_exports.py --dynamic`, both exporters): F.scaled_dot_product_attention, a BERT-style
// self-attention with a padding mask, nn.MultiheadAttention (dynamo only: the legacy export bakes the sequence length
// in), Swin window attention with a relative position bias, with and without the shift mask (window batch dynamic).
// Each is built on every backend present (the CPU always; CUDA with TF32 off where a GPU is) with one profile spanning
// all its shapes, must make exactly one FusedAttention layer, and runs in one context at the profile's min, max and odd
// shapes between, against PyTorch's float32 output there.
//
// Inputs are not stored: det_input/det_padding in the script and detInput/detPadding here compute the same exact
// float32 values. Tolerance kStrictFp32 (max |kiln - torch| <= 1e-4 x max|torch|, cosine >= 0.9999): both sum float32
// products of at most 32 terms in different orders, ~1e-6 relative; a wrong mask, scale or layout moves outputs by
// more than 1e-2.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/npy.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "test_util/compare.h"
#include "test_util/engine_runner.h"

namespace kiln::test {
namespace {

const std::string kDir = std::string(KILN_SOURCE_DIR) + "/tests/models/attention_dynamic";

/// ((i * 7919 + seed * 104729) mod 2001 - 1000 + 0.5) / 1000 in float32, as make_attention_exports.py's det_input.
Tensor detInput(const Dims& dims, int64_t seed) {
  Tensor t = Tensor::allocate(DataType::kFloat32, dims).value();
  for (int64_t i = 0; i < t.elementCount(); ++i)
    t.dataAs<float>()[i] = (static_cast<float>((i * 7919 + seed * 104729) % 2001 - 1000) + 0.5f) / 1000.f;
  return t;
}

/// int64 [b, s] of ones; row r ignores its last min(r, s - 1) tokens (det_padding).
Tensor detPadding(int64_t b, int64_t s) {
  Tensor t = Tensor::allocate(DataType::kInt64, {b, s}).value();
  for (int64_t r = 0; r < b; ++r)
    for (int64_t j = 0; j < s; ++j) t.dataAs<int64_t>()[r * s + j] = j < s - std::min(r, s - 1) ? 1 : 0;
  return t;
}

enum class Family { kSdpa, kBert, kMha, kSwin };

std::map<std::string, Tensor> inputsFor(Family f, int64_t b, int64_t s) {
  switch (f) {
    case Family::kSdpa:
      return {{"q", detInput({b, 2, s, 8}, 0)}, {"k", detInput({b, 2, s, 8}, 1)}, {"v", detInput({b, 2, s, 8}, 2)}};
    case Family::kBert:
      return {{"x", detInput({b, s, 32}, 0)}, {"mask", detPadding(b, s)}};
    case Family::kMha:
      return {{"x", detInput({b, s, 32}, 0)}};
    case Family::kSwin:
      return {{"x", detInput({b * 4, 16, 16}, 0)}};
  }
  return {};
}

/// The profile: every input from its dims at the smallest (batch, seq) to those at the largest.
OptimizationProfile profileFor(Family f, std::pair<int64_t, int64_t> lo, std::pair<int64_t, int64_t> hi) {
  OptimizationProfile p;
  const auto min = inputsFor(f, lo.first, lo.second), max = inputsFor(f, hi.first, hi.second);
  for (const auto& [name, t] : min) p.inputs.push_back({name, t.dims(), max.at(name).dims(), max.at(name).dims()});
  return p;
}

struct Case {
  std::string name;
  Family family;
};

class AttentionExports : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionExports, FuseAndMatchPyTorchAtEveryShapeOfTheProfile) {
  const Case& c = GetParam();
  const std::string dir = kDir + "/" + c.name;
  auto network = parseOnnxFile(dir + "/model.onnx");
  ASSERT_TRUE(network.hasValue()) << network.status().toString();
  const bool swin = c.family == Family::kSwin;
  // (batch, seq): the profile's min, max and odd ones between (make_attention_exports.py's DYNAMIC_SHAPES); Swin has
  // only the batch of images (x 4 windows).
  const std::vector<std::pair<int64_t, int64_t>> shapes =
      swin ? std::vector<std::pair<int64_t, int64_t>>{{1, 0}, {3, 0}}
           : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {4, 24}, {3, 17}, {2, 5}};
  for (DeviceKind device : devicesToTest()) {
    SCOPED_TRACE(c.name + " on " + deviceKindName(device));
    BuilderConfig config;
    config.device = device;
    config.disallow(Precision::kTF32);
    config.addProfile(swin ? profileFor(c.family, {1, 0}, {4, 0}) : profileFor(c.family, {1, 2}, {4, 24}));
    auto plan = buildEngine(*network, config);
    ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
    auto engine = Engine::loadFromMemory(plan->data(), plan->size());
    ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
    int fused = 0, softmax = 0;
    for (const std::string& line : (*engine)->layerDescriptions()) {
      fused += line.find(" [FusedAttention] ") != std::string::npos;
      softmax += line.find(" [Softmax] ") != std::string::npos;
    }
    EXPECT_EQ(fused, 1);
    EXPECT_EQ(softmax, 0);
    auto context = (*engine)->createContext(0);
    ASSERT_TRUE(context.hasValue()) << context.status().toString();
    for (const auto& [b, s] : shapes) {
      SCOPED_TRACE("batch " + std::to_string(b) + " seq " + std::to_string(s));
      auto want = readNpyFile(dir + "/pytorch_" + std::to_string(b) + "x" + std::to_string(s) + ".npy");
      ASSERT_TRUE(want.hasValue()) << want.status().toString();
      auto out = (*context)->infer(inputsFor(c.family, b, s));
      ASSERT_TRUE(out.hasValue()) << out.status().toString();
      ASSERT_EQ(out->size(), 1u);
      const CompareResult r = compareToScale(out->begin()->second, *want, kStrictFp32);
      EXPECT_TRUE(r.ok) << r.message;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(DynamicBatchAndSequence, AttentionExports,
                         ::testing::Values(Case{"sdpa_legacy", Family::kSdpa}, Case{"sdpa_dynamo", Family::kSdpa},
                                           Case{"bert_legacy", Family::kBert}, Case{"bert_dynamo", Family::kBert},
                                           Case{"mha_dynamo", Family::kMha}, Case{"swin_legacy", Family::kSwin},
                                           Case{"swin_dynamo", Family::kSwin},
                                           Case{"swin_noshift_dynamo", Family::kSwin}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kiln::test

// BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization, Softmax and LogSoftmax:
// shape inference + CPU kernels on one-node graphs against float64 references written here from the ONNX
// definitions, on random non-zero inputs (some offset far from zero, where one-pass float variance fails).
// Tolerance: |kiln - ref| <= 1e-4 * (|ref| + rms(ref)).
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>

#include "backends/cpu/cpu_kernels.h"
#include "ops/shape_inference.h"
#include "unit/one_node_harness.h"

namespace kiln {
namespace {

using ir::OpKind;

using test::expectClose;
using test::HostTensor;
using test::randomTensor;
using test::runOp;

int64_t product(const Dims& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= d[i];
  return p;
}

// Mean and 1/sqrt(var + eps) of x[offset + i * stride], i < count, in double.
std::pair<double, double> stats(const std::vector<float>& x, int64_t offset, int64_t count, double eps) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < count; ++i) mean += x[offset + i];
  mean /= static_cast<double>(count);
  for (int64_t i = 0; i < count; ++i) var += (x[offset + i] - mean) * (x[offset + i] - mean);
  var /= static_cast<double>(count);
  return {mean, 1.0 / std::sqrt(var + eps)};
}

TEST(NormBatchNorm, Inference) {
  for (const Dims& d : {Dims{2, 3, 7, 9}, Dims{1, 5}, Dims{3, 4, 13}, Dims{1, 2, 3, 4, 5}}) {
    SCOPED_TRACE(dimsToString(d));
    const int64_t c = d[1], size = product(d, 2, d.size());
    const auto x = randomTensor(d, 1), scale = randomTensor({c}, 2), bias = randomTensor({c}, 3);
    const auto mean = randomTensor({c}, 4), var = randomTensor({c}, 5, 0.1f, 3.0f);
    ir::Attributes attrs;
    attrs.set("epsilon", 1e-3f);
    auto got = runOp(OpKind::kBatchNormalization, attrs, {x, scale, bias, mean, var});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    std::vector<double> want(x.data.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const int64_t ch = (static_cast<int64_t>(i) / size) % c;
      want[i] = (x.data[i] - mean.data[ch]) / std::sqrt(static_cast<double>(var.data[ch]) + 1e-3f) * scale.data[ch] +
                bias.data[ch];
    }
    expectClose((*got)[0], d, want);
  }
}

TEST(NormLayerNorm, AxesScaleBroadcastAndOptionalBias) {
  struct Case {
    Dims x;
    int64_t axis;
    Dims scale;
    std::optional<Dims> bias;
    float offset;  // added to X: a large mean checks the variance is computed stably
  };
  const std::vector<Case> cases = {
      {{2, 7, 13}, -1, {13}, Dims{13}, 0.0f},    {{3, 5, 6}, 1, {5, 6}, Dims{6}, 0.0f},
      {{4, 9}, -1, {9}, std::nullopt, 1000.0f}, {{2, 3, 4, 5}, -2, {1, 5}, Dims{4, 5}, 0.0f},
      {{6, 768}, -1, {768}, Dims{768}, 50.0f},   {{5, 3}, 0, {5, 3}, Dims{1}, 0.0f},
  };
  uint32_t seed = 10;
  for (const auto& c : cases) {
    SCOPED_TRACE("LayerNorm " + dimsToString(c.x) + " axis " + std::to_string(c.axis));
    auto x = randomTensor(c.x, ++seed);
    for (float& v : x.data) v += c.offset;
    const auto scale = randomTensor(c.scale, ++seed);
    std::optional<HostTensor> bias;
    if (c.bias) bias = randomTensor(*c.bias, ++seed);
    ir::Attributes attrs;
    attrs.set("axis", c.axis);
    attrs.set("epsilon", 1e-5f);
    auto got = runOp(OpKind::kLayerNormalization, attrs, {x, scale, bias});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    const size_t axis = static_cast<size_t>(c.axis < 0 ? c.axis + static_cast<int64_t>(c.x.size()) : c.axis);
    const int64_t rows = product(c.x, 0, axis), cols = product(c.x, axis, c.x.size());
    const Dims norm(c.x.begin() + static_cast<ptrdiff_t>(axis), c.x.end());
    // Value of a broadcast parameter p at normalized flat index i.
    auto param = [&](const HostTensor& p, int64_t i) {
      int64_t index = 0, stride = 1;
      for (size_t a = norm.size(); a-- > 0;) {
        const int64_t coord = i % norm[a];
        i /= norm[a];
        const size_t lead = norm.size() - p.dims.size();
        if (a < lead) continue;
        const int64_t pd = p.dims[a - lead];
        index += (pd == 1 ? 0 : coord) * stride;
        stride *= pd;
      }
      return static_cast<double>(p.data[index]);
    };
    std::vector<double> want;
    for (int64_t r = 0; r < rows; ++r) {
      const auto [mean, inv] = stats(x.data, r * cols, cols, 1e-5f);
      for (int64_t i = 0; i < cols; ++i) {
        want.push_back((x.data[r * cols + i] - mean) * inv * param(scale, i) + (bias ? param(*bias, i) : 0.0));
      }
    }
    expectClose((*got)[0], c.x, want);
  }
}

// Instance (groups = C) and group normalization; params per channel, or per group for opset 18.
std::vector<double> referenceGrouped(const HostTensor& x, int64_t groups, const HostTensor& scale,
                                     const HostTensor& bias, double eps) {
  const int64_t n = x.dims[0], c = x.dims[1], size = product(x.dims, 2, x.dims.size()), per = c / groups;
  const bool perChannel = scale.dims[0] == c;
  std::vector<double> y(x.data.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t offset = (i * c + g * per) * size;
      const auto [mean, inv] = stats(x.data, offset, per * size, eps);
      for (int64_t j = 0; j < per * size; ++j) {
        const int64_t p = perChannel ? g * per + j / size : g;
        y[offset + j] = (x.data[offset + j] - mean) * inv * scale.data[p] + bias.data[p];
      }
    }
  }
  return y;
}

TEST(NormInstanceNorm, PerChannel) {
  for (const Dims& d : {Dims{2, 3, 7, 9}, Dims{1, 5, 13}, Dims{2, 2, 3, 4, 5}}) {
    SCOPED_TRACE(dimsToString(d));
    auto x = randomTensor(d, 3);
    for (float& v : x.data) v += 20.0f;
    const auto scale = randomTensor({d[1]}, 4), bias = randomTensor({d[1]}, 5);
    ir::Attributes attrs;
    attrs.set("epsilon", 1e-4f);
    auto got = runOp(OpKind::kInstanceNormalization, attrs, {x, scale, bias});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    expectClose((*got)[0], d, referenceGrouped(x, d[1], scale, bias, 1e-4f));
  }
}

TEST(NormGroupNorm, Opset18And21Forms) {
  struct Case {
    Dims x;
    int64_t groups;
    bool perChannel;
    int64_t opset;
  };
  const std::vector<Case> cases = {{{2, 6, 5, 7}, 3, true, 21}, {{1, 8, 9}, 2, true, 21}, {{2, 6, 5, 7}, 3, false, 18},
                                   {{1, 4, 3, 3}, 4, true, 18}, {{1, 32, 8, 8}, 8, true, 21}, {{2, 6, 5}, 1, false, 18}};
  uint32_t seed = 30;
  for (const auto& c : cases) {
    SCOPED_TRACE("GroupNorm " + dimsToString(c.x) + " groups " + std::to_string(c.groups) + " opset " +
                 std::to_string(c.opset));
    auto x = randomTensor(c.x, ++seed);
    for (float& v : x.data) v += 5.0f;
    const int64_t len = c.perChannel ? c.x[1] : c.groups;
    const auto scale = randomTensor({len}, ++seed), bias = randomTensor({len}, ++seed);
    ir::Attributes attrs;
    attrs.set("num_groups", c.groups);
    attrs.set("epsilon", 1e-5f);
    auto got = runOp(OpKind::kGroupNormalization, attrs, {x, scale, bias}, 1, c.opset);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    expectClose((*got)[0], c.x, referenceGrouped(x, c.groups, scale, bias, 1e-5f));
  }
}

TEST(NormSoftmax, EveryAxisBothOps) {
  for (const Dims& d : {Dims{2, 7, 13}, Dims{13}, Dims{3, 1, 5, 4}, Dims{4, 1000}}) {
    auto x = randomTensor(d, 9, -30.0f, 30.0f);  // large logits: exp overflows without max subtraction
    x.data[0] = 95.0f;
    for (int64_t axis = -static_cast<int64_t>(d.size()); axis < static_cast<int64_t>(d.size()); ++axis) {
      for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax}) {
        SCOPED_TRACE(std::string(op == OpKind::kSoftmax ? "Softmax " : "LogSoftmax ") + dimsToString(d) + " axis " +
                     std::to_string(axis));
        ir::Attributes attrs;
        attrs.set("axis", axis);
        auto got = runOp(op, attrs, {x});
        ASSERT_TRUE(got.hasValue()) << got.status().toString();
        const size_t a = static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(d.size()) : axis);
        const int64_t outer = product(d, 0, a), len = d[a], inner = product(d, a + 1, d.size());
        std::vector<double> want(x.data.size());
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            double mx = -INFINITY, sum = 0;
            for (int64_t k = 0; k < len; ++k) mx = std::max<double>(mx, x.data[(o * len + k) * inner + i]);
            for (int64_t k = 0; k < len; ++k) sum += std::exp(x.data[(o * len + k) * inner + i] - mx);
            for (int64_t k = 0; k < len; ++k) {
              const double v = x.data[(o * len + k) * inner + i] - mx;
              want[(o * len + k) * inner + i] = op == OpKind::kSoftmax ? std::exp(v) / sum : v - std::log(sum);
            }
          }
        }
        expectClose((*got)[0], d, want);
      }
    }
  }
}

TEST(NormErrors, ReportedAsValuesWithThePlace) {
  const auto x = randomTensor({2, 6, 4}, 1);
  ir::Attributes axis5;
  axis5.set("axis", int64_t{5});
  Status s = runOp(OpKind::kSoftmax, axis5, {x}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("node 'n0' (Softmax)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("axis"), std::string::npos) << s.message();

  s = runOp(OpKind::kLayerNormalization, {}, {x, randomTensor({5}, 2)}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_EQ(runOp(OpKind::kLayerNormalization, {}, {x, randomTensor({4}, 2)}, 3).status().code(),
            StatusCode::kUnsupported);  // Mean / InvStdDev outputs

  const auto c6 = randomTensor({6}, 3), c5 = randomTensor({5}, 3);
  EXPECT_EQ(runOp(OpKind::kBatchNormalization, {}, {x, c6, c6, c6, c5}).status().code(), StatusCode::kInvalidModel);
  ir::Attributes training;
  training.set("training_mode", int64_t{1});
  EXPECT_EQ(runOp(OpKind::kBatchNormalization, training, {x, c6, c6, c6, c6}).status().code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(runOp(OpKind::kInstanceNormalization, {}, {x, c5, c6}).status().code(), StatusCode::kInvalidModel);

  ir::Attributes groups4;
  groups4.set("num_groups", int64_t{4});
  EXPECT_EQ(runOp(OpKind::kGroupNormalization, groups4, {x, c6, c6}).status().code(), StatusCode::kInvalidModel);
  EXPECT_EQ(runOp(OpKind::kGroupNormalization, {}, {x, c6, c6}).status().code(), StatusCode::kInvalidModel);
  ir::Attributes groups3;
  groups3.set("num_groups", int64_t{3});
  const auto g3 = randomTensor({3}, 4);
  EXPECT_TRUE(runOp(OpKind::kGroupNormalization, groups3, {x, g3, g3}, 1, 18).hasValue());
  // Opset 21 needs one scale per channel.
  EXPECT_EQ(runOp(OpKind::kGroupNormalization, groups3, {x, g3, g3}, 1, 21).status().code(), StatusCode::kInvalidModel);
}

}  // namespace
}  // namespace kiln

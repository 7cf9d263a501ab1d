// INT8 calibration: the three range methods on histograms whose answer is known, the cache's round trip and its
// errors, per-channel weight scales, and a whole INT8 build on the CPU backend (x @ W + relu) against a float64
// fake-quantization reference computed here from the calibration batches (min-max) and the weights.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <random>
#include <unistd.h>

#include "builder/calibration.h"
#include "core/npy.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "passes/insert_quantization.h"

namespace kiln {
namespace {

using builder::kCalibrationBins;
using ir::OpKind;

std::filesystem::path scratchDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("kiln_calibration_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(CalibrationRange, EntropyKeepsAFlatHistogramWhole) {
  // Every bin equal: the 128-level quantization of all 2048 bins is exact (KL 0); any clipping folds mass.
  const std::vector<double> flat(kCalibrationBins, 5.0);
  EXPECT_DOUBLE_EQ(builder::entropyThreshold(flat, 0.01), (kCalibrationBins + 0.5) * 0.01);
}

TEST(CalibrationRange, EntropyClipsARareOutlier) {
  // Mass spread over the first 256 bins (a decaying shape) and one count at bin 2000: the range ends near 256, not
  // at the outlier that min-max would keep.
  std::vector<double> h(kCalibrationBins, 0.0);
  for (int k = 0; k < 256; ++k) h[k] = 1000.0 * std::exp(-k / 100.0) + 1;
  h[2000] = 1;
  const double t = builder::entropyThreshold(h, 1.0);
  EXPECT_GE(t, 200.0);
  EXPECT_LE(t, 300.0);
  EXPECT_DOUBLE_EQ(builder::thresholdFromHistogram(h, 1.0, CalibrationMethod::kMinMax, 0), 2001.0);
}

TEST(CalibrationRange, PercentileFindsTheBinOfThatRank) {
  std::vector<double> h(kCalibrationBins, 0.0);
  h[10] = 9999;
  h[2000] = 1;
  EXPECT_DOUBLE_EQ(builder::thresholdFromHistogram(h, 0.5, CalibrationMethod::kPercentile, 99.99), 11 * 0.5);
  EXPECT_DOUBLE_EQ(builder::thresholdFromHistogram(h, 0.5, CalibrationMethod::kPercentile, 100.0), 2001 * 0.5);
  EXPECT_DOUBLE_EQ(builder::thresholdFromHistogram(std::vector<double>(kCalibrationBins, 0.0), 0.5,
                                                   CalibrationMethod::kEntropy, 99.99),
                   0.0);
  EXPECT_FLOAT_EQ(builder::scaleForRange(0.0), 1.f);
  EXPECT_FLOAT_EQ(builder::scaleForRange(2.54), 0.02f);
}

TEST(CalibrationCache, RoundTripsEveryScaleExactly) {
  const auto dir = scratchDir("cache");
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(1e-6f, 10.f);
  builder::ScaleTable scales;
  for (int i = 0; i < 50; ++i) scales["/layer" + std::to_string(i) + "/Conv output " + std::to_string(i)] = dist(rng);
  const std::string path = (dir / "cache.txt").string();
  ASSERT_TRUE(builder::writeCalibrationCache(path, scales, "entropy").isOk());
  auto back = builder::readCalibrationCache(path);
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  EXPECT_EQ(*back, scales);  // names with spaces, and every float bit for bit

  std::ofstream(dir / "bad.txt") << "# kiln calibration cache 1 method=minmax\ngood 0.5\nbroken -3\n";
  auto bad = builder::readCalibrationCache((dir / "bad.txt").string());
  ASSERT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("line 3"), std::string::npos) << bad.status().message();
  std::ofstream(dir / "foreign.txt") << "TRT-8601-EntropyCalibration2\n";
  EXPECT_FALSE(builder::readCalibrationCache((dir / "foreign.txt").string()).hasValue());
  std::filesystem::remove_all(dir);
}

TEST(WeightScales, PerOutputChannelMaxOver127) {
  Tensor w = Tensor::allocate(DataType::kFloat32, {3, 2, 2}).value();
  const std::vector<float> v = {1, -2, 0.5f, 0.25f, 0, 0, 0, 0, -12.7f, 3, 1, 2};
  std::copy(v.begin(), v.end(), w.dataAs<float>());
  EXPECT_EQ(passes::perChannelWeightScales(w, 0), (std::vector<float>{2 / 127.f, 1.f, 12.7f / 127.f}));
  EXPECT_EQ(passes::perChannelWeightScales(w, 2), (std::vector<float>{12.7f / 127.f, 3 / 127.f}));
}

double roundHalfEven(double v) {
  const double f = std::floor(v), frac = v - f;
  return frac > 0.5 ? f + 1 : frac < 0.5 ? f : (std::fmod(f, 2.0) == 0 ? f : f + 1);
}
double fakeQuant(float x, float scale) {
  return std::clamp(roundHalfEven(static_cast<float>(x / scale)), -128.0, 127.0) * scale;
}

TEST(Int8Build, MatMulReluMatchesFloat64FakeQuantizationOnCpu) {
  // y = relu(x[B,13] @ W[13,7] + b); calibration on three batches (min-max), then a run on a fourth batch whose
  // values exceed the calibrated range (so saturation shows).
  constexpr int64_t K = 13, N = 7;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  auto g = std::make_unique<ir::Graph>();
  const ir::ValueId x = g->addValue("x", DataType::kFloat32);
  g->values[x].rankKnown = true;
  g->values[x].dims = {kDynamicDim, K};
  g->inputs = {x};
  Tensor w = Tensor::allocate(DataType::kFloat32, {K, N}).value();
  for (int64_t i = 0; i < K * N; ++i) w.dataAs<float>()[i] = dist(rng) * (1 + static_cast<float>(i % N));
  Tensor b = Tensor::allocate(DataType::kFloat32, {N}).value();
  for (int64_t i = 0; i < N; ++i) b.dataAs<float>()[i] = 0.1f * static_cast<float>(i) - 0.3f;
  const ir::ValueId wId = g->addConstant("W", w), bId = g->addConstant("b", b);
  const ir::ValueId mm = g->addValue("mm", DataType::kFloat32), add = g->addValue("add", DataType::kFloat32),
                    y = g->addValue("y", DataType::kFloat32);
  g->nodes.push_back({"matmul", OpKind::kMatMul, {x, wId}, {mm}, {}});
  g->nodes.push_back({"bias", OpKind::kAdd, {mm, bId}, {add}, {}});
  g->nodes.push_back({"relu", OpKind::kRelu, {add}, {y}, {}});
  g->outputs = {y};
  const ir::Graph original = *g;
  Network network(std::move(g));

  const auto dir = scratchDir("build");
  std::filesystem::create_directories(dir / "x");
  float calibMax = 0;
  for (int k = 0; k < 3; ++k) {
    Tensor batch = Tensor::allocate(DataType::kFloat32, {5, K}).value();
    for (int64_t i = 0; i < 5 * K; ++i) {
      batch.dataAs<float>()[i] = dist(rng) * (k + 1);
      calibMax = std::max(calibMax, std::fabs(batch.dataAs<float>()[i]));
    }
    ASSERT_TRUE(writeNpyFile((dir / "x" / ("batch" + std::to_string(k) + ".npy")).string(), batch).isOk());
  }
  BuilderConfig config;
  config.device = DeviceKind::kCpu;
  config.addProfile({{{"x", {1, K}, {5, K}, {9, K}}}});
  config.allow(Precision::kINT8);
  config.calibrationData = {{"x", (dir / "x").string()}};
  config.calibrationMethod = CalibrationMethod::kMinMax;
  config.calibrationCachePath = (dir / "cache.txt").string();
  auto plan = buildEngine(network, config);
  ASSERT_TRUE(plan.hasValue()) << plan.status().toString();
  auto cache = builder::readCalibrationCache(config.calibrationCachePath);
  ASSERT_TRUE(cache.hasValue()) << cache.status().toString();
  ASSERT_EQ(cache->size(), 1u);
  const float sx = cache->at("x");
  EXPECT_FLOAT_EQ(sx, calibMax / 127.f);

  Tensor input = Tensor::allocate(DataType::kFloat32, {9, K}).value();
  for (int64_t i = 0; i < 9 * K; ++i) input.dataAs<float>()[i] = dist(rng) * 4;  // beyond the range: saturates
  auto engine = Engine::loadFromMemory(plan->data(), plan->size());
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  auto ctx = (*engine)->createContext(0);
  ASSERT_TRUE(ctx.hasValue());
  auto out = (*ctx)->infer({{"x", input}});
  ASSERT_TRUE(out.hasValue()) << out.status().toString();
  const Tensor& got = out->at("y");

  const std::vector<float> sw = passes::perChannelWeightScales(w, 1);
  double worst = 0, scale = 0;
  for (int64_t r = 0; r < 9; ++r)
    for (int64_t c = 0; c < N; ++c) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += fakeQuant(input.dataAs<float>()[r * K + k], sx) * fakeQuant(w.dataAs<float>()[k * N + c], sw[c]);
      const double ref = std::max(0.0, acc + b.dataAs<float>()[c]);
      worst = std::max(worst, std::fabs(got.dataAs<float>()[r * N + c] - ref));
      scale = std::max(scale, std::fabs(ref));
    }
  // float32 accumulation of 13 products of the exact fake-quantized values: a few ulps of the output's scale.
  EXPECT_LE(worst, 1e-5 * scale) << "max |kiln - reference| " << worst << " of scale " << scale;

  // A second build reads the cache (no calibration data needed) and gives the same outputs bit for bit.
  BuilderConfig again = config;
  again.calibrationData.clear();
  Network network2(std::make_unique<ir::Graph>(original));
  auto plan2 = buildEngine(network2, again);
  ASSERT_TRUE(plan2.hasValue()) << plan2.status().toString();
  auto engine2 = Engine::loadFromMemory(plan2->data(), plan2->size());
  ASSERT_TRUE(engine2.hasValue());
  auto out2 = (*engine2)->createContext(0).value()->infer({{"x", input}});
  ASSERT_TRUE(out2.hasValue());
  EXPECT_EQ(0, std::memcmp(out2->at("y").data(), got.data(), got.byteSize()));
  // Without the cache and without data, an INT8 build says what it needs.
  std::filesystem::remove(config.calibrationCachePath);
  Network network3(std::make_unique<ir::Graph>(original));
  auto refused = buildEngine(network3, again);
  ASSERT_FALSE(refused.hasValue());
  EXPECT_NE(refused.status().message().find("--calib"), std::string::npos) << refused.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kiln

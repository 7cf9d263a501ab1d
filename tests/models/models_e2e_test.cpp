// End-to-end: the seed CNN and the BERT-style transformer block (tests/models/make_*.py) built with dynamic
// profiles, run at several shapes in one context, compared with onnxruntime (CPU) on every backend present.
//
// Tolerance: max |kiln - ort| <= 1e-4 * max|ref| and cosine >= 0.9999 per output (kStrictFp32; a reference that is
// all zero, constant or non-finite fails as degenerate). Why: both compute in FP32 (TF32 is
// disallowed here) but sum in different orders (BLAS/im2col blocking, folded BatchNorm, fused epilogues), so
// errors grow with the reduction lengths (up to 576 for the 3x3x64 convolutions, 256 in the FFN) and with the
// output's magnitude; 1e-4 relative to the largest reference value is ~100x the rounding error expected from
// these depths and still ~1000x below any real bug (a wrong weight, mask or layout moves outputs by >= 1e-1).
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util/compare.h"
#include "test_util/engine_runner.h"
#include "test_util/tensor_proto_io.h"
#include "test_util/test_dirs.h"

namespace kiln::test {
namespace {

struct ModelData {
  std::string modelPath;
  std::vector<DataSet> sets;
};

Expected<ModelData> readModelData(const std::string& name) {
  const std::string dir = testDataRoot() + "/models/" + name;
  ModelData d{dir + "/model.onnx", {}};
  if (!std::filesystem::exists(d.modelPath))
    return ioError("'" + d.modelPath + "' is missing; " + generateCommandHint("models"));
  KILN_ASSIGN_OR_RETURN(ModelSignature sig, readModelSignature(d.modelPath));
  for (const auto& setDir : listDataSetDirs(dir)) {
    KILN_ASSIGN_OR_RETURN(DataSet set, readDataSet(setDir, sig));
    d.sets.push_back(std::move(set));
  }
  if (d.sets.empty()) return ioError("no test_data_set_* in " + dir);
  return d;
}

/// Builds once per backend with `profile`, runs every reference set in one context, checks each output.
void checkModel(const std::string& name, const OptimizationProfile& profile, size_t expectedSets) {
  auto data = readModelData(name);
  ASSERT_TRUE(data.hasValue()) << data.status().toString();
  ASSERT_EQ(data->sets.size(), expectedSets) << "reference sets of " << name;
  std::vector<std::vector<NamedTensor>> inputSets;
  for (const auto& s : data->sets) inputSets.push_back(s.inputs);
  for (DeviceKind device : devicesToTest()) {
    SCOPED_TRACE(name + " on " + deviceKindName(device));
    const std::string enginePath = ::testing::TempDir() + "kiln_e2e_" + name + "_" + deviceKindName(device) + ".kiln";
    RunResult run = buildAndRun(data->modelPath, device, profile, inputSets, enginePath);
    std::error_code ec;
    std::filesystem::remove(enginePath, ec);
    ASSERT_TRUE(run.ok()) << run.describe();
    for (size_t k = 0; k < data->sets.size(); ++k) {
      for (const auto& expected : data->sets[k].outputs) {
        auto it = run.outputs[k].find(expected.name);
        ASSERT_NE(it, run.outputs[k].end()) << "output '" << expected.name << "' missing";
        const Tensor& got = it->second;
        ASSERT_EQ(got.dtype(), expected.tensor.dtype());
        ASSERT_EQ(got.dims(), expected.tensor.dims()) << data->sets[k].dir;
        const CompareResult c = compareToScale(got, expected.tensor, kStrictFp32);
        const ErrorStats& s = c.stats;
        std::printf("[ e2e      ] %s %s %s %s: max abs err %.3g = %.3g x max|ref| %.3g, cosine %.9f\n", name.c_str(),
                    deviceKindName(device), dimsToString(got.dims()).c_str(), expected.name.c_str(), s.maxAbs,
                    s.maxAbsRef > 0 ? s.maxAbs / s.maxAbsRef : 0.0, s.maxAbsRef, s.cosine);
        EXPECT_TRUE(c.ok) << data->sets[k].dir << " output '" << expected.name << "': " << c.message;
      }
    }
  }
}

// Seed CNN: profile batch 1 / 4 / 16 (kept small: CI has 2 cores), run at batch 1, 7 and 16.
TEST(ModelsE2E, SeedCnnBatches1_7_16) {
  OptimizationProfile p;
  p.inputs.push_back({"input", {1, 3, 256, 144}, {4, 3, 256, 144}, {16, 3, 256, 144}});
  checkModel("seed_cnn", p, 3);
}

// Transformer block: batch 1..8, seq 1..16; run at (1,5), (3,11), (8,16) with padded attention masks.
TEST(ModelsE2E, TransformerBlockDynamicBatchAndSeq) {
  OptimizationProfile p;
  p.inputs.push_back({"hidden", {1, 1, 64}, {4, 8, 64}, {8, 16, 64}});
  p.inputs.push_back({"attention_mask", {1, 1}, {4, 8}, {8, 16}});
  checkModel("transformer_block", p, 3);
}

}  // namespace
}  // namespace kiln::test

// INT8 post-training calibration (DESIGN.md rule 6: "INT8 without Q/DQ comes from calibration on user data"): the
// FP32 engine runs on the user's batches with every Conv/Gemm/MatMul activation input exposed as an extra output
// (the accuracy guard's probe mechanism), each tensor's |x| is histogrammed, and a method turns the histogram into
// a symmetric range amax (scale = amax / 127). Scales round-trip through a small text cache
// (docs/calibration-cache.md). Until INT8 kernels exist the builder simulates INT8 with Q/DQ pairs in float.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"

namespace kiln::builder {

/// Every .npy file in `dir` (calibration batches for input `input`), sorted by name; an error names both when the
/// folder cannot be listed or holds none.
Expected<std::vector<std::string>> calibrationBatchFiles(const std::string& input, const std::string& dir);

/// Activation scale by value name.
using ScaleTable = std::map<std::string, float>;

inline constexpr int kCalibrationBins = 2048;
inline constexpr int kQuantizedLevels = 128;  // int8's non-negative half: |q| <= 127

/// The float32 activations an INT8 engine quantizes: the non-constant float data inputs of Conv, Gemm and MatMul.
std::vector<ir::ValueId> quantizedActivations(const ir::Graph& graph);

/// amax for a histogram of |x| (bin k covers [k, k+1) * binWidth) by `method`.
double thresholdFromHistogram(const std::vector<double>& histogram, double binWidth, CalibrationMethod method,
                              double percentile);
/// The entropy method alone: the clipping bin count i in [128, bins] whose 128-level quantization Q of the first i
/// bins is closest (KL divergence) to P, the first i bins with the mass beyond folded into bin i - 1. Returns
/// (i + 0.5) * binWidth.
double entropyThreshold(const std::vector<double>& histogram, double binWidth);

/// Symmetric INT8 scale of a range: amax / 127 (1 for an all-zero tensor, which any scale represents exactly).
float scaleForRange(double amax);

/// Runs `graph` (float32, shapes annotated) on `config.calibrationData`'s batches and returns every
/// quantizedActivations() value's scale. Errors name the input, the file and what was expected.
Expected<ScaleTable> calibrateActivations(const ir::Graph& graph, const std::vector<OptimizationProfile>& profiles,
                                          const BuilderConfig& config,
                                          const std::map<std::string, std::string>& buildFacts);

/// The cache: "# kiln calibration cache 1 method=..." then one "name scale" line per tensor.
Expected<ScaleTable> readCalibrationCache(const std::string& path);
Status writeCalibrationCache(const std::string& path, const ScaleTable& scales, const std::string& methodName);
const char* calibrationMethodName(CalibrationMethod method);

/// The INT8 step of buildEngine: explicit Q/DQ models are left alone; otherwise scales come from the cache or from
/// calibration (and go to the cache), and Q/DQ pairs are inserted at every Conv/Gemm/MatMul's activations and
/// weights (passes/insert_quantization.h). Prints what it did to stderr.
Status prepareInt8(ir::Graph& graph, const std::vector<OptimizationProfile>& profiles, const BuilderConfig& config,
                   const std::map<std::string, std::string>& buildFacts);

}  // namespace kiln::builder

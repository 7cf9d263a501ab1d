// kiln — parse an ONNX model and build an engine for one device.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

namespace ir { class Graph; }

/// A graph input or output as the model declares it. Dynamic dims are kDynamicDim; `dimNames` holds the
/// symbolic name of each dim ("batch_size") or "" for a fixed dim.
struct TensorDesc {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Dims dims;
  std::vector<std::string> dimNames;
};

/// An imported model: the typed graph, ready for the builder. Movable, not copyable.
class Network {
 public:
  explicit Network(std::unique_ptr<ir::Graph> graph);
  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;
  ~Network();
  std::vector<TensorDesc> inputs() const;
  std::vector<TensorDesc> outputs() const;
  /// Number of operator nodes.
  size_t nodeCount() const;
  /// Human-readable dump of the graph, one node per line.
  std::string toText() const;
  ir::Graph& graph() { return *graph_; }
  const ir::Graph& graph() const { return *graph_; }

 private:
  std::unique_ptr<ir::Graph> graph_;
};

/// Parses an ONNX file (external data allowed only inside the model's folder). On failure the Status lists
/// every unsupported or invalid node at once, each with node name, op type and reason.
Expected<Network> parseOnnxFile(const std::string& path);
/// Parses an ONNX model from memory; external data is resolved against `baseDir` ("" forbids it).
Expected<Network> parseOnnxBytes(const void* data, size_t size, const std::string& baseDir = "");

/// min <= opt <= max shapes for one input, as in TensorRT's IOptimizationProfile::setDimensions.
struct InputShapeRange {
  std::string name;
  Dims min, opt, max;
};

/// One optimization profile: a range for every input that has dynamic dims.
struct OptimizationProfile {
  std::vector<InputShapeRange> inputs;
};

/// A per-layer precision pin (trtexec's --layerPrecisions): layers whose name, or the name of an ONNX node fused
/// into them, matches `pattern` ('*' and '?' wildcards) run in `precision` (kFP32, kFP16 or kBF16).
struct LayerPrecision {
  std::string pattern;
  Precision precision = Precision::kFP32;
};

/// How strictly pins hold (trtexec's --precisionConstraints). kPrefer: a pin to FP16/BF16 falls back to FP32 where
/// that type has no kernel or the accuracy guard finds it wrong, with a reason; kObey: such a pin is kept, and the
/// build fails where it cannot be. An FP32 pin always holds.
enum class PrecisionConstraints : int32_t { kPrefer = 0, kObey = 1 };

/// How INT8 calibration picks each activation's range |x| <= amax (scale = amax / 127): kEntropy minimizes the KL
/// divergence between the 2048-bin histogram and its 128-level quantization (TensorRT's IInt8EntropyCalibrator2),
/// kMinMax takes the largest |x| seen, kPercentile the calibrationPercentile-th percentile of |x|.
enum class CalibrationMethod : int32_t { kEntropy = 0, kMinMax = 1, kPercentile = 2 };

/// What to build: profiles, precisions, device.
class BuilderConfig {
 public:
  /// Adds a profile; returns its index.
  int addProfile(OptimizationProfile profile);
  void allow(Precision p);
  void disallow(Precision p);
  bool allows(Precision p) const;

  std::vector<OptimizationProfile> profiles;
  DeviceKind device = DeviceKind::kCpu;
  /// Upper bound for a single kernel's scratch memory; 0 = no limit.
  size_t workspaceLimitBytes = 0;
  /// Timing-cache file for tactic choices ("" = none). Used by backends that time tactics.
  std::string timingCachePath;
  /// CUDA builds with FP16 or TF32 run convolution networks channels-last (NHWC); true keeps NCHW (for comparison).
  bool keepNchw = false;
  /// Pins for single layers; see LayerPrecision. Later entries win over earlier ones.
  std::vector<LayerPrecision> layerPrecisions;
  PrecisionConstraints precisionConstraints = PrecisionConstraints::kPrefer;
  /// FP16/BF16 builds: run the engine against the FP32 path at build time (on `calibrationData`, else random inputs)
  /// and keep in FP32 the layers where the narrow type gives NaN/Inf, leaves its range or breaks the tolerance. A
  /// build whose outputs still disagree is an error. Costs build time only.
  bool accuracyGuard = true;
  /// CUDA builds: run the finished engine as users do (plainly, then from a CUDA graph) at the profile's shapes and,
  /// where runs of the same inputs disagree, put a stream fence before the racing layers (src/builder/
  /// run_agreement.h). Costs build time only; false keeps a racing engine as it is, for diagnosis (--findRace).
  bool runAgreementCheck = true;
  /// Input name -> folder of .npy batches for the accuracy guard (--calibData); the first file (sorted) is used.
  std::map<std::string, std::string> calibrationData;
  /// INT8 builds (allow(Precision::kINT8)): activation ranges come from `calibrationCachePath` when that file exists,
  /// else from running the FP32 engine on every .npy batch of `calibrationData` (then written to the cache when a
  /// path is given; format in docs/calibration-cache.md). Weights get per-channel scales. A model that already has
  /// QuantizeLinear/DequantizeLinear nodes runs them as they are, without calibration.
  CalibrationMethod calibrationMethod = CalibrationMethod::kEntropy;
  double calibrationPercentile = 99.99;
  std::string calibrationCachePath;
  /// 0: no tactic timing (backend heuristics: fast builds for accuracy sweeps); 1 to 5: time tactics (default 3).
  int builderOptimizationLevel = 3;
  /// Print every pass and every tuned layer to stderr.
  bool verbose = false;
  /// Print tactic-tuning progress to stderr, about ten lines per build (the CLI's default; `--quiet` turns it off).
  bool showProgress = false;

 private:
  uint32_t precisionMask_ = (1u << static_cast<int>(Precision::kFP32)) | (1u << static_cast<int>(Precision::kTF32));
};

/// kCuda when this kiln has the CUDA backend and a CUDA GPU is visible, else kCpu (the CLI's default --device).
DeviceKind defaultDevice();

/// Builds a serialized engine (the bytes of a .kiln file). The network is optimized in place.
Expected<std::vector<std::byte>> buildEngine(Network& network, const BuilderConfig& config);

/// Writes bytes to a file, reporting the path on failure.
Status writeFile(const std::string& path, const std::vector<std::byte>& bytes);

}  // namespace kiln

// kiln — parse an ONNX model and build an engine for one device.
#pragma once

#include <cstddef>
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
  /// Print every pass and every tuned layer to stderr.
  bool verbose = false;
  /// Print tactic-tuning progress to stderr, about ten lines per build (the CLI's default; `--quiet` turns it off).
  bool showProgress = false;

 private:
  uint32_t precisionMask_ = (1u << static_cast<int>(Precision::kFP32)) | (1u << static_cast<int>(Precision::kTF32));
};

/// Builds a serialized engine (the bytes of a .kiln file). The network is optimized in place.
Expected<std::vector<std::byte>> buildEngine(Network& network, const BuilderConfig& config);

/// Writes bytes to a file, reporting the path on failure.
Status writeFile(const std::string& path, const std::vector<std::byte>& bytes);

}  // namespace kiln

// The engine file: writer and verifying reader. docs/engine-format.md describes every byte.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/status.h"

namespace kiln::engine {

/// Everything an engine file holds. The runtime rebuilds kernels from it; it never sees ONNX.
struct EngineModel {
  ir::Graph graph;                            // optimized graph, constants included (weights)
  std::vector<OptimizationProfile> profiles;  // at least one
  DeviceKind device = DeviceKind::kCpu;
  std::vector<std::string> tactics;           // one per graph node ("" = backend default)
  /// Build facts: "kiln.version", "device.name", "device.compute_capability", "cuda.version", "cudnn.version",
  /// "cublas.version", "build.precisions", ... The runtime compares the device ones with the device at hand.
  std::map<std::string, std::string> metadata;
};

/// Serializes; weights are 256-byte aligned blobs.
Expected<std::vector<std::byte>> writeEngine(const EngineModel& model);
/// Verifies every offset, length, count, checksum and enum before use; a refusal says what is wrong and where.
Expected<EngineModel> readEngine(const void* data, size_t size);

/// The engine format version this build writes and reads.
inline constexpr uint32_t kEngineFormatVersion = 1;

}  // namespace kiln::engine

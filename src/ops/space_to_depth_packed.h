// SpaceToDepth with kiln's extension attributes (set only by the NHWC layout pass for stride-2 stems; the importer
// rejects them in ONNX files). The extended form zero-pads X before blocking and may write channels-last output
// with extra zero channels:
//   pads = [top, left, bottom, right] (>= 0) applied to X [N, C, H, W] before blocking;
//   data_format = "NHWC": the OUTPUT is [N, H', W', output_channels] (X stays NCHW); "NCHW" (default): [N, OC, H', W'];
//   output_channels >= C * blocksize^2; channels past C * blocksize^2 are zero.
// Output channel (a * blocksize + b) * C + c of pixel (i, j) holds X[n, c, i * bs + a - top, j * bs + b - left]
// (0 outside X): ONNX's DCR order, so the extension with no pads and NCHW output is plain SpaceToDepth.
// Shape inference, the CPU reference and the CUDA kernel all read the attributes through resolvePackedSpaceToDepth.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "ir/attributes.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ops {

/// The attribute names of the extension; an ONNX SpaceToDepth may carry none of them (the importer refuses them).
inline constexpr const char* kSpaceToDepthExtensionAttributes[] = {"pads", "data_format", "output_channels"};

/// True when any extension attribute is present (the node then follows the extended semantics).
bool hasSpaceToDepthExtensions(const ir::Attributes& attrs);

struct PackedSpaceToDepth {
  int64_t block = 1;
  int64_t batch = 0, channels = 0, height = 0, width = 0;  // X [N, C, H, W]
  std::array<int64_t, 4> pads{};                             // top, left, bottom, right
  int64_t outHeight = 0, outWidth = 0, outChannels = 0;
  bool channelsLast = false;  // output NHWC
  Dims outputDims() const {
    return channelsLast ? Dims{batch, outHeight, outWidth, outChannels} : Dims{batch, outChannels, outHeight, outWidth};
  }
};

/// Validates the attributes against X's dims; errors start with `where` and name the attribute.
Expected<PackedSpaceToDepth> resolvePackedSpaceToDepth(const std::string& where, const ir::Attributes& attrs,
                                                       const Dims& input);

}  // namespace kiln::ops

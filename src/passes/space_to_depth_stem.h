// The space-to-depth stem (the MLPerf ResNet trick): a stride-2 convolution over few input channels equals a
// stride-1 convolution over the 2x2 space-to-depth of the zero-padded input, with 4x the channels and a kernel
// of ceil(R/2) x ceil(S/2). cuDNN is far faster on the packed form (16 channels at stride 1 instead of 3 or 8 at
// stride 2). convert_to_nhwc.cpp applies it; the functions are here so that tests can check the arithmetic.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "ir/attributes.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::passes {

/// How to rewrite one stem Conv: the packing SpaceToDepth's attributes and the new kernel size.
struct SpaceToDepthStem {
  std::array<int64_t, 4> pads{};  // [top, left, bottom, right] for the packing node
  int64_t outputChannels = 0;     // 4 * C rounded up to a multiple of 8 (tensor-core friendly)
  int64_t kernelH = 0, kernelW = 0;  // ceil(R / 2), ceil(S / 2)
};

/// The rewrite for a Conv with attributes `convAttrs`, input X dims [N, C, H, W] (NCHW) and weight dims
/// [K, C, R, S]: when group is 1, strides (2, 2), dilations 1, C <= 4, R and S >= 2 and H, W are static; otherwise
/// nullopt (the Conv keeps the plain channels-last path). The packed input has P + R' - 1 rows and Q + S' - 1
/// columns, so the stride-1, unpadded conv over it yields the original P x Q output.
std::optional<SpaceToDepthStem> planSpaceToDepthStem(const ir::Attributes& convAttrs, const Dims& x, const Dims& w);

/// OIHW weights [K, C, R, S] -> KRSC weights [K, R', S', outputChannels] of the stride-1 conv over the packed input:
///   w'[k, r', s', (a * 2 + b) * C + c] = w[k, c, 2r' + a, 2s' + b] (zero where 2r' + a >= R or 2s' + b >= S,
/// and for channels >= 4C). Any element type (copied by size).
Expected<Tensor> spaceToDepthStemWeights(const Tensor& w, int64_t outputChannels);

}  // namespace kiln::passes

#include "passes/space_to_depth_stem.h"

#include <cstring>

#include "ops/window_geometry.h"

namespace kiln::passes {

std::optional<SpaceToDepthStem> planSpaceToDepthStem(const ir::Attributes& convAttrs, const Dims& x, const Dims& w) {
  if (x.size() != 4 || w.size() != 4) return std::nullopt;
  const int64_t C = x[1], H = x[2], W = x[3], R = w[2], S = w[3];
  // kDynamicDim (-1) spatial dims would make the packing pads depend on the run-time shape.
  if (C < 1 || C > 4 || H < 1 || W < 1 || w[1] != C || R < 2 || S < 2) return std::nullopt;
  if (convAttrs.getInt("group", 1) != 1) return std::nullopt;
  const int64_t spatial[2] = {H, W}, kernel[2] = {R, S};
  auto g = ops::resolveWindow("", convAttrs, ops::WindowOp::kConv, spatial, kernel);
  if (!g) return std::nullopt;  // the conv's own validation reports it
  for (size_t k = 0; k < 2; ++k)
    if (g->strides[k] != 2 || g->dilations[k] != 1 || g->output[k] < 1) return std::nullopt;
  SpaceToDepthStem stem;
  stem.kernelH = (R + 1) / 2;
  stem.kernelW = (S + 1) / 2;
  const int64_t rows = g->output[0] + stem.kernelH - 1, cols = g->output[1] + stem.kernelW - 1;
  stem.pads = {g->padsBegin[0], g->padsBegin[1], 2 * rows - H - g->padsBegin[0], 2 * cols - W - g->padsBegin[1]};
  // A negative end pad (no end padding, a window that stops one row short) would need cropping; keep those plain.
  if (stem.pads[2] < 0 || stem.pads[3] < 0) return std::nullopt;
  stem.outputChannels = (4 * C + 7) / 8 * 8;
  return stem;
}

Expected<Tensor> spaceToDepthStemWeights(const Tensor& w, int64_t outputChannels) {
  const Dims& d = w.dims();
  if (d.size() != 4 || outputChannels < 4 * d[1])
    return invalidArgument("space-to-depth stem weights: expected [K, C, R, S] with output channels >= 4C, found " +
                           dimsToString(d) + " and " + std::to_string(outputChannels) + " channels");
  const int64_t K = d[0], C = d[1], R = d[2], S = d[3], R2 = (R + 1) / 2, S2 = (S + 1) / 2;
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(w.dtype(), {K, R2, S2, outputChannels}));
  const size_t e = dataTypeSize(w.dtype());
  const auto* src = static_cast<const std::byte*>(w.data());
  auto* dst = static_cast<std::byte*>(t.data());
  std::memset(dst, 0, t.byteSize());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t channel = ((r % 2) * 2 + s % 2) * C + c;
          const int64_t to = ((k * R2 + r / 2) * S2 + s / 2) * outputChannels + channel;
          std::memcpy(dst + to * e, src + (((k * C + c) * R + r) * S + s) * e, e);
        }
  return t;
}

}  // namespace kiln::passes

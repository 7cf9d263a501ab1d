#include "ops/space_to_depth_packed.h"

#include <variant>

namespace kiln::ops {
namespace {

// Bounds that keep every product below int64 overflow while allowing any real image.
constexpr int64_t kMaxPad = int64_t{1} << 30;
constexpr int64_t kMaxChannels = int64_t{1} << 30;

}  // namespace

bool hasSpaceToDepthExtensions(const ir::Attributes& attrs) {
  for (const char* name : kSpaceToDepthExtensionAttributes)
    if (attrs.has(name)) return true;
  return false;
}

Expected<PackedSpaceToDepth> resolvePackedSpaceToDepth(const std::string& where, const ir::Attributes& attrs,
                                                       const Dims& input) {
  if (input.size() != 4) return invalidModel(where + "input must be 4-D NCHW, found shape " + dimsToString(input));
  for (size_t k = 0; k < 4; ++k)
    if (input[k] < 0)
      return invalidModel(where + "input dim " + std::to_string(k) + " is " + std::to_string(input[k]) +
                          "; a concrete size >= 0 is needed");
  PackedSpaceToDepth p;
  p.batch = input[0];
  p.channels = input[1];
  p.height = input[2];
  p.width = input[3];
  p.block = attrs.getInt("blocksize", 0);
  if (p.block < 1 || p.block > 64)
    return invalidModel(where + "attribute 'blocksize' must be in [1, 64], found " + std::to_string(p.block));
  if (attrs.getString("mode", "DCR") != "DCR")
    return invalidModel(where + "attribute 'mode' must be DCR when 'pads', 'data_format' or 'output_channels' is " +
                        "given, found '" + attrs.getString("mode", "") + "'");

  const auto& all = attrs.all();
  if (auto it = all.find("pads"); it != all.end()) {
    const auto* pads = std::get_if<std::vector<int64_t>>(&it->second);
    if (!pads || pads->size() != 4)
      return invalidModel(where + "attribute 'pads' must be 4 ints [top, left, bottom, right]" +
                          (pads ? ", found " + std::to_string(pads->size()) + " values" : std::string()));
    for (size_t k = 0; k < 4; ++k) {
      if ((*pads)[k] < 0 || (*pads)[k] > kMaxPad)
        return invalidModel(where + "attribute 'pads'[" + std::to_string(k) + "] must be in [0, 2^30], found " +
                            std::to_string((*pads)[k]));
      p.pads[k] = (*pads)[k];
    }
  }
  if (auto it = all.find("data_format"); it != all.end()) {
    const auto* format = std::get_if<std::string>(&it->second);
    if (!format || (*format != "NCHW" && *format != "NHWC"))
      return invalidModel(where + "attribute 'data_format' must be the string NCHW or NHWC" +
                          (format ? ", found '" + *format + "'" : std::string()));
    p.channelsLast = *format == "NHWC";
  }
  if (p.channels > kMaxChannels)
    return invalidModel(where + "input has " + std::to_string(p.channels) + " channels; at most 2^30 are supported");
  const int64_t blocked = p.channels * p.block * p.block;
  p.outChannels = blocked;
  if (auto it = all.find("output_channels"); it != all.end()) {
    const auto* oc = std::get_if<int64_t>(&it->second);
    if (!oc || *oc < blocked || *oc > kMaxChannels)
      return invalidModel(where + "attribute 'output_channels' must be an int in [C * blocksize^2 = " +
                          std::to_string(blocked) + ", 2^30]" + (oc ? ", found " + std::to_string(*oc) : std::string()));
    p.outChannels = *oc;
  }
  const int64_t paddedH = p.height + p.pads[0] + p.pads[2], paddedW = p.width + p.pads[1] + p.pads[3];
  if (paddedH % p.block != 0 || paddedW % p.block != 0)
    return invalidModel(where + "padded height " + std::to_string(paddedH) + " (H " + std::to_string(p.height) +
                        " + pads top/bottom) and width " + std::to_string(paddedW) + " must be divisible by blocksize " +
                        std::to_string(p.block));
  p.outHeight = paddedH / p.block;
  p.outWidth = paddedW / p.block;
  return p;
}

}  // namespace kiln::ops

#include "backends/cuda/conv_graph_tactic.h"

#include <cudnn.h>

#include <charconv>
#include <string_view>

#include "backends/cuda/conv_cudnn_graph.h"

namespace kiln::backends::cuda {
namespace {

constexpr std::string_view kActivationKernelSuffix = ":activation=kernel";

}  // namespace

std::string formatGraphTactic(const GraphTactic& tactic) {
  const auto& knobs = tactic.knobs;
  std::string text = std::string(kCudnnGraphTacticPrefix) + "engine=" + std::to_string(tactic.engine) + ":knobs=";
  for (size_t i = 0; i < knobs.size(); ++i) {
    if (i) text += ',';
    text += std::to_string(knobs[i].first);
    text += '.';
    text += std::to_string(knobs[i].second);
  }
  if (tactic.activationKernel) text += kActivationKernelSuffix;
  return text;
}

std::optional<GraphTactic> parseGraphTactic(const std::string& text) {
  const std::string head = std::string(kCudnnGraphTacticPrefix) + "engine=";
  if (text.rfind(head, 0) != 0) return std::nullopt;
  GraphTactic c;
  std::string_view body(text);
  if (body.ends_with(kActivationKernelSuffix)) {
    c.activationKernel = true;
    body.remove_suffix(kActivationKernelSuffix.size());
  }
  const char* p = body.data() + head.size();
  const char* end = body.data() + body.size();
  auto r = std::from_chars(p, end, c.engine);
  if (r.ec != std::errc() || c.engine < 0) return std::nullopt;
  const std::string knobsKey = ":knobs=";
  if (static_cast<size_t>(end - r.ptr) < knobsKey.size() || std::string(r.ptr, knobsKey.size()) != knobsKey)
    return std::nullopt;
  p = r.ptr + knobsKey.size();
  while (p < end) {
    int64_t type = 0, value = 0;
    auto t = std::from_chars(p, end, type);
    if (t.ec != std::errc() || t.ptr == end || *t.ptr != '.' || type < 0 || type >= CUDNN_KNOB_TYPE_COUNTS)
      return std::nullopt;
    auto v = std::from_chars(t.ptr + 1, end, value);
    if (v.ec != std::errc()) return std::nullopt;
    c.knobs.emplace_back(type, value);
    p = v.ptr;
    if (p < end) {
      if (*p != ',') return std::nullopt;
      ++p;
    }
    if (c.knobs.size() > CUDNN_KNOB_TYPE_COUNTS) return std::nullopt;
  }
  return c;
}

}  // namespace kiln::backends::cuda

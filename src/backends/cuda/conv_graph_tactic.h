// The text of a cuDNN graph-API conv tactic, as the engine file records it (docs/engine-format.md):
// "cudnn-graph:engine=E:knobs=T.V,T.V[:activation=kernel]" — cuDNN's global engine index, its knob choices, and
// whether the engine runs conv + bias + residual only, with the activation applied after it by kiln's own kernel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln::backends::cuda {

struct GraphTactic {
  int64_t engine = -1;
  std::vector<std::pair<int64_t, int64_t>> knobs;  // (knob type, value)
  bool activationKernel = false;
};

std::string formatGraphTactic(const GraphTactic& tactic);

/// Nothing when the text is not a well-formed graph tactic (a tampered engine file must not crash).
std::optional<GraphTactic> parseGraphTactic(const std::string& text);

}  // namespace kiln::backends::cuda

// The answer check of conv tuning (issue 10: "discard a tactic that gives NaN or Inf or diverges"). The race times
// kernels and never looks at what they compute, so a candidate that is fast and wrong at some shape (a cuDNN engine
// or algorithm that mishandles a grouped, depthwise or narrow-typed conv, a broken epilogue) would win silently.
// Before the race every candidate runs once on the same deterministic random inputs (and random weights: tuning has
// shapes, not the model's values), and a few thousand sampled outputs are compared with a direct float64
// convolution of the same inputs with the node's epilogue (bias, residual, activation) on the device.
#pragma once

#include <string>
#include <vector>

#include <optional>

#include "backends/cuda/conv_reference.h"
#include "backends/cuda/kernel_race.h"

namespace kiln::backends::cuda {

/// The reference's geometry for `node` at these shapes (data pointers, samples and activation left for the caller),
/// or nothing when the node is not a form it knows (it is then not checked).
std::optional<ReferenceConvArgs> referenceConvArgsFor(const ir::Node& node, std::span<const DeviceTensor> in,
                                                      std::span<const DeviceTensor> out);

/// The verdict on each entrant, in order.
struct ConvCheck {
  std::vector<bool> accurate;  // false: NaN/Inf where the reference is finite, or beyond the tolerance
  std::vector<std::string> notes;  // per entrant: "cosine ..., max error ... of scale ..." or why it failed
  bool checked = false;  // false when the check could not run (memory, an unknown activation): keep every entrant
};

/// Tolerances (inputs identical on both sides, so the error is the kernel's own): float16 cosine >= 0.999 and max
/// error <= 2e-2 of the sampled reference's largest magnitude; bfloat16 0.999 and 4e-2; float32 with TF32 0.999 and
/// 2e-2; strict float32 0.99999 and 1e-3.
Expected<ConvCheck> checkConvEntrants(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                      std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs,
                                      const std::vector<RaceEntrant>& entrants);

}  // namespace kiln::backends::cuda

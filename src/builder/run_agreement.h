// The finished engine, loaded and run as a user runs it: the same inputs, run after run, plainly and from a
// captured CUDA graph, must give the same answer. A tactic that breaks this (a library kernel that misbehaves
// when launched back to back: docs/accuracy.md, "Run-to-run disagreement") would otherwise be a silent wrong
// answer that no per-layer check sees, because checks synchronize between layers.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::builder {

/// Runs `engineBytes` three times at the first profile's opt shapes and three times at its max shapes, on random
/// inputs, and compares the later runs with the first (max |diff| <= 1e-3 x max |first| for every float output).
/// Returns "" when every run agrees, else a description of the first disagreement (shapes, output, error).
/// Engines with non-float inputs are not checked (random values there may be out-of-range indices).
Expected<std::string> findRunToRunDisagreement(const std::vector<std::byte>& engineBytes);

}  // namespace kiln::builder

// The finished engine, loaded and run as a user runs it: the same inputs, run after run, plainly and from a
// captured CUDA graph, must give the same answer. Layer-by-layer checks synchronize between layers, so they never
// see a library kernel that starts before its predecessor has finished: on Hopper cuDNN launches some engines with
// programmatic dependent launch, and with some pairs of its engines (docs/accuracy.md, "Run-to-run disagreement")
// the second then starts before the first has finished. The answer changes from run to run. Where that happens
// the builder closes the race with a stream fence before the later layer (ir::kFenceBeforeAttribute): ~1 us there,
// nothing anywhere else.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::builder {

/// Inputs at which the engine answers differently from run to run, and how.
struct RunDisagreement {
  std::string description;  // "at input:128x3x256x144, run 2 of the same inputs differs from run 1 ..."
  std::map<std::string, Tensor> inputs;
};

/// Runs `engineBytes` three times at each of the first profile's opt, max and min shapes and at an odd shape between
/// opt and max, on random inputs, and compares the later runs with the first (max |diff| <= 1e-3 x max |first| for
/// every float output). Returns the first disagreement, or nothing when every run agrees. Engines with non-float
/// inputs are not checked (random values there may be out-of-range indices).
Expected<std::optional<RunDisagreement>> findRunToRunDisagreement(const std::vector<std::byte>& engineBytes);

/// The same engine with a stream fence before each of `nodes` (indices into its graph).
Expected<std::vector<std::byte>> withFencesBefore(const std::vector<std::byte>& engineBytes,
                                                  const std::vector<size_t>& nodes);

/// What makeRunsAgree did.
struct RunAgreement {
  std::vector<std::byte> engine;  // with the fences it needed
  std::vector<std::string> fencedLayers;  // "'/layer3/downsample/downsample.0/Conv' after '/layer3/conv2/Conv'"
  std::string disagreement;  // empty when the runs agree; else the one that remains with every layer fenced
};

/// Checks the engine; where its runs disagree, finds the racing boundaries (ExecutionContext::findRacingBoundaries)
/// at the inputs that show it, fences them and checks again, up to three rounds, then fences every layer.
Expected<RunAgreement> makeRunsAgree(std::vector<std::byte> engineBytes);

}  // namespace kiln::builder

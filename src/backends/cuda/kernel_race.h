// Tactic selection by measurement (DESIGN.md rule 3): candidate kernels for one node race through their own run()
// on scratch buffers at the builder's shapes, so every path (cuDNN legacy, cuDNN graph, cuBLASLt) is timed the same way.
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// Scratch device memory for tuning, freed on every path out; allocate() gives nullptr when out of memory (the
/// CUDA error is cleared so the build goes on).
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();
  void* allocate(size_t bytes);

 private:
  std::vector<void*> owned_;
};

/// Median milliseconds per run() of `kernel`: batches of runs captured into a CUDA graph (launched directly where
/// capture fails) on a tuning stream, timed with events; NaN when a run fails.
float medianMilliseconds(const Kernel& kernel, std::span<const DeviceTensor> in, std::span<const DeviceTensor> out,
                         void* workspace, cudaEvent_t start, cudaEvent_t stop);

struct RaceEntrant {
  std::string tactic;
  const Kernel* kernel = nullptr;
  float ms = NAN;  // filled in by race()
};

/// Times each entrant at these shapes (the tensors' data pointers are ignored: every input and output gets zeroed
/// scratch memory) and returns the index of the fastest, or -1 when none ran (out of memory, every run failed).
/// Failing entrants get NaN and never win.
int race(std::vector<RaceEntrant>& entrants, std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs);

}  // namespace kiln::backends::cuda

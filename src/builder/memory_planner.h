// Activation memory by liveness (DESIGN.md rule 5): tensors whose lifetimes do not overlap share bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::builder {

inline constexpr size_t kTensorAlignment = 256;

/// One tensor to place: its size and the node-index interval [firstStep, lastStep] in which it must stay alive.
struct TensorLifetime {
  size_t bytes = 0;
  int firstStep = 0;
  int lastStep = 0;
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // same order as the lifetimes given
  size_t totalBytes = 0;
};

/// Greedy best-fit by decreasing size; offsets are kTensorAlignment-aligned.
MemoryPlan planMemory(const std::vector<TensorLifetime>& tensors);

}  // namespace kiln::builder

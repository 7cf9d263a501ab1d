#include "builder/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace kiln::builder {

MemoryPlan planMemory(const std::vector<TensorLifetime>& tensors) {
  MemoryPlan plan;
  plan.offsets.assign(tensors.size(), 0);
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].bytes > tensors[b].bytes; });
  struct Placed {
    size_t offset, bytes;
    int first, last;
  };
  std::vector<Placed> placed;
  for (size_t idx : order) {
    const auto& t = tensors[idx];
    const size_t need = (t.bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
    // Intervals in memory already taken by tensors alive at the same time, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const auto& p : placed)
      if (!(p.last < t.firstStep || t.lastStep < p.first)) busy.push_back({p.offset, p.offset + p.bytes});
    std::sort(busy.begin(), busy.end());
    size_t best = SIZE_MAX, bestGap = SIZE_MAX, cursor = 0;
    for (auto& [begin, end] : busy) {
      if (begin > cursor && begin - cursor >= need && begin - cursor < bestGap) {
        best = cursor;
        bestGap = begin - cursor;
      }
      cursor = std::max(cursor, end);
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[idx] = best;
    placed.push_back({best, need, t.firstStep, t.lastStep});
    plan.totalBytes = std::max(plan.totalBytes, best + need);
  }
  return plan;
}

}  // namespace kiln::builder

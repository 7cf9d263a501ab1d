// Numpy broadcasting: the output shape of several operands, and a plan to walk them with broadcast strides.
//
// The plan collapses the shapes first (drops size-1 output dims, merges neighbours that every operand treats the
// same way), so a channel bias [1,C,1,1] on [N,C,H,W] becomes three dims [N, C, H*W] and the innermost dim of
// every operand has stride 0 (a broadcast scalar) or 1 (contiguous). Kernels then run a tight loop per span of
// that innermost dim, with no division or modulo per element.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ops {

/// The numpy-broadcast shape of `shapes` (right-aligned; each dim equal or 1). `where` prefixes the error, which
/// names the operand indices and dimension that disagree.
Expected<Dims> broadcastShapes(std::span<const Dims> shapes, const std::string& where = "");
Expected<Dims> broadcastShapes(const Dims& a, const Dims& b, const std::string& where = "");

/// Element strides of `input` seen as a tensor of shape `output` (rank of output; 0 where the input is broadcast).
/// `input` must broadcast to `output`.
Dims broadcastStrides(const Dims& input, const Dims& output);

/// Collapsed iteration plan for up to kMaxOperands inputs broadcast to one contiguous output.
class BroadcastPlan {
 public:
  static constexpr int kMaxOperands = 4;

  /// `inputs` must each broadcast to `output` (check with broadcastShapes first).
  BroadcastPlan(std::span<const Dims> inputs, const Dims& output);

  int operandCount() const { return operands_; }
  int64_t totalElements() const { return total_; }
  /// Length of the innermost collapsed dim (1 for a scalar output).
  int64_t innerSize() const { return inner_; }
  /// Stride (0 or 1) of operand k along the innermost dim.
  int64_t innerStride(int k) const { return innerStride_[k]; }
  /// True when every operand covers the output contiguously (same shape after collapsing).
  bool allContiguous() const;

  /// Calls fn(outOffset, inOffsets, count) for consecutive spans covering output elements [begin, end), where
  /// each span lies inside one innermost row: output elements outOffset..outOffset+count-1 read operand k at
  /// inOffsets[k] + i * innerStride(k).
  template <typename Fn>
  void forEachSpan(int64_t begin, int64_t end, Fn&& fn) const;

 private:
  int operands_ = 0;
  int64_t total_ = 0;
  int64_t inner_ = 1;
  Dims outer_;  // collapsed output dims except the innermost
  std::array<Dims, kMaxOperands> outerStrides_{};
  std::array<int64_t, kMaxOperands> innerStride_{};
};

/// Splits [0, total) into contiguous chunks of at least `grain` elements run on OpenMP threads (inline when small).
void parallelForRange(int64_t total, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

/// Default grain: below this many elements a kernel runs on one thread.
inline constexpr int64_t kParallelGrain = 1 << 15;

template <typename Fn>
void BroadcastPlan::forEachSpan(int64_t begin, int64_t end, Fn&& fn) const {
  if (begin >= end) return;
  const int rank = static_cast<int>(outer_.size());
  // Decompose `begin` once; afterwards rows advance by an odometer with carries.
  int64_t row = begin / inner_;
  int64_t col = begin - row * inner_;
  std::vector<int64_t> index(static_cast<size_t>(rank), 0);
  std::array<int64_t, kMaxOperands> rowOffset{};
  int64_t r = row;
  for (int d = rank - 1; d >= 0; --d) {
    const int64_t i = r % outer_[d];
    r /= outer_[d];
    index[d] = i;
    for (int k = 0; k < operands_; ++k) rowOffset[k] += i * outerStrides_[k][d];
  }
  std::array<int64_t, kMaxOperands> offsets{};
  int64_t pos = begin;
  while (pos < end) {
    const int64_t count = std::min(inner_ - col, end - pos);
    for (int k = 0; k < operands_; ++k) offsets[k] = rowOffset[k] + col * innerStride_[k];
    fn(pos, std::span<const int64_t>(offsets.data(), operands_), count);
    pos += count;
    col = 0;
    for (int d = rank - 1; d >= 0; --d) {
      for (int k = 0; k < operands_; ++k) rowOffset[k] += outerStrides_[k][d];
      if (++index[d] < outer_[d]) break;
      for (int k = 0; k < operands_; ++k) rowOffset[k] -= outer_[d] * outerStrides_[k][d];
      index[d] = 0;
    }
  }
}

}  // namespace kiln::ops

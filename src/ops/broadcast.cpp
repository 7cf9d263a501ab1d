#include "ops/broadcast.h"

#include <omp.h>

namespace kiln::ops {

Expected<Dims> broadcastShapes(std::span<const Dims> shapes, const std::string& where) {
  size_t rank = 0;
  for (const Dims& s : shapes) rank = std::max(rank, s.size());
  Dims out(rank, 1);
  std::vector<int> owner(rank, -1);  // which operand set each output dim, for the message
  for (size_t k = 0; k < shapes.size(); ++k) {
    const Dims& s = shapes[k];
    const size_t pad = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      const int64_t d = s[i];
      int64_t& o = out[pad + i];
      if (d < 0)
        return invalidModel(where + "input " + std::to_string(k) + " has a negative dim " + std::to_string(d) +
                            " at index " + std::to_string(i));
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        owner[pad + i] = static_cast<int>(k);
        continue;
      }
      return invalidModel(where + "shapes cannot be broadcast: input " + std::to_string(k) + " (" +
                          dimsToString(s) + ") has " + std::to_string(d) + " at dim " + std::to_string(i) +
                          " but input " + std::to_string(owner[pad + i]) + " has " + std::to_string(o) +
                          " there (numpy rules need equal sizes or 1)");
    }
  }
  return out;
}

Expected<Dims> broadcastShapes(const Dims& a, const Dims& b, const std::string& where) {
  const Dims both[2] = {a, b};
  return broadcastShapes(std::span<const Dims>(both, 2), where);
}

Dims broadcastStrides(const Dims& input, const Dims& output) {
  Dims strides(output.size(), 0);
  const size_t pad = output.size() - input.size();
  int64_t stride = 1;
  for (size_t i = input.size(); i-- > 0;) {
    strides[pad + i] = (input[i] == 1 && output[pad + i] != 1) ? 0 : stride;
    stride *= input[i];
  }
  return strides;
}

BroadcastPlan::BroadcastPlan(std::span<const Dims> inputs, const Dims& output) {
  operands_ = static_cast<int>(std::min<size_t>(inputs.size(), kMaxOperands));
  total_ = elementCount(output);
  if (total_ < 0) total_ = 0;
  const size_t rank = output.size();

  // Keep output dims larger than 1; merge a dim into the previous kept one when every operand is broadcast along
  // both or along neither (then the pair is one contiguous run in every operand).
  Dims sizes;
  std::vector<std::array<bool, kMaxOperands>> broadcast;
  for (size_t d = 0; d < rank; ++d) {
    if (output[d] == 1) continue;
    std::array<bool, kMaxOperands> flags{};
    for (int k = 0; k < operands_; ++k) {
      const Dims& in = inputs[k];
      const size_t pad = rank - in.size();
      flags[k] = d < pad || in[d - pad] == 1;
    }
    if (!sizes.empty() && flags == broadcast.back()) {
      sizes.back() *= output[d];
    } else {
      sizes.push_back(output[d]);
      broadcast.push_back(flags);
    }
  }
  if (sizes.empty()) {  // a scalar or all-ones output: one element
    sizes.push_back(1);
    broadcast.push_back({});
    broadcast.back().fill(true);
  }

  const size_t n = sizes.size();
  std::array<Dims, kMaxOperands> strides;
  for (int k = 0; k < operands_; ++k) {
    strides[k].assign(n, 0);
    int64_t stride = 1;
    for (size_t j = n; j-- > 0;) {
      if (broadcast[j][k]) continue;
      strides[k][j] = stride;
      stride *= sizes[j];
    }
  }
  inner_ = sizes.back();
  outer_.assign(sizes.begin(), sizes.end() - 1);
  for (int k = 0; k < operands_; ++k) {
    innerStride_[k] = strides[k].back();
    outerStrides_[k].assign(strides[k].begin(), strides[k].end() - 1);
  }
}

bool BroadcastPlan::allContiguous() const {
  if (!outer_.empty()) return false;
  for (int k = 0; k < operands_; ++k)
    if (innerStride_[k] != 1 && inner_ != 1) return false;
  return true;
}

void parallelForRange(int64_t total, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (total <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t maxChunks = (total + grain - 1) / grain;
  const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), maxChunks));
  if (threads <= 1 || omp_in_parallel()) {
    body(0, total);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num();
    const int64_t nt = omp_get_num_threads();
    // Chunk boundaries rounded to 16 elements so threads do not share cache lines of the output.
    const int64_t per = ((total + nt - 1) / nt + 15) / 16 * 16;
    const int64_t begin = std::min(total, t * per);
    const int64_t end = std::min(total, begin + per);
    if (begin < end) body(begin, end);
  }
}

}  // namespace kiln::ops

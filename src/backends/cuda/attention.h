// Launch arguments of the flash-attention kernel (attention.cu): one FusedAttention node's geometry (ops/attention.h)
// in plain numbers. Scores, softmax statistics and the output sums are float32 for every type.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/types.h"

namespace kiln::backends::cuda {

struct AttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* mask = nullptr;  // bool (one byte each) or additive in the data
                               // type; null when absent
  void* out = nullptr;
  int64_t batch = 1, heads = 1, queries = 0, keys = 0, headDim = 0, valueDim = 0;
  int64_t kGroup = 1, vGroup = 1;  // K/V head of query head h: h / group
  // Element strides over (batch, head, row) of each operand; the last dim is contiguous.
  int64_t qStride[3] = {}, kStride[3] = {}, vStride[3] = {}, outStride[3] = {};
  int64_t maskStride[4] = {};  // (batch, head, query, key); 0 where the mask broadcasts
  int32_t maskKind = 0;        // ops::AttentionMask: 0 none, 1 bool, 2 additive
  float scale = 1.f;
  int32_t causal = 0;
  int32_t zeroMaskedRows = 0;
};

/// The largest head size (of Q/K and of V) the kernel takes.
inline constexpr int64_t kMaxAttentionHeadDim = 256;

/// Opts every kernel variant into the shared memory it needs (above the 48 KiB default) on the current device. Call
/// once per device before the first launch, outside stream capture.
cudaError_t configureAttentionKernels();

/// float32, float16 or bfloat16 data (`dtype`); cudaErrorInvalidValue for another type or a head size above
/// kMaxAttentionHeadDim.
cudaError_t launchAttention(const AttentionArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda

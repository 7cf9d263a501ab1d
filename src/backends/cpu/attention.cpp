// FusedAttention on the CPU, float32 (float16/bfloat16 arrive widened by float32_staging.h): per query row, the scores
// against every key, a softmax that subtracts the row maximum before exp (stable for any scale), then the weighted sum
// of V. Rows of all (batch, head) pairs run in parallel.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "ops/broadcast.h"

namespace kiln::backends::cpu {

Status runAttention(const KernelCall& call) {
  const std::string where = call.where();
  const auto& in = call.inputs;
  for (size_t i = 0; i < 3; ++i)
    if (in[i].dtype != DataType::kFloat32)
      return unsupported(where + "input " + std::to_string(i) + " has dtype " + dataTypeName(in[i].dtype) +
                         "; the CPU backend runs attention in float32");
  const bool hasMask = in.size() > 3 && in[3].present();
  if (hasMask && in[3].dtype != DataType::kBool && in[3].dtype != DataType::kFloat32)
    return unsupported(where + "mask has dtype " + dataTypeName(in[3].dtype) + "; expected bool or float32");
  KILN_ASSIGN_OR_RETURN(
      const ops::AttentionGeometry g,
      ops::attentionGeometry(call.node, in[0].dims, in[1].dims, in[2].dims, hasMask ? &in[3].dims : nullptr,
                             hasMask ? in[3].dtype : DataType::kUndefined, where));
  if (call.outputs[0].dims != g.outputDims)
    return internalError(where + "output has shape " + dimsToString(call.outputs[0].dims) + ", expected " +
                         dimsToString(g.outputDims));
  const auto* q = static_cast<const float*>(in[0].data);
  const auto* k = static_cast<const float*>(in[1].data);
  const auto* v = static_cast<const float*>(in[2].data);
  const auto* maskF =
      hasMask && g.maskKind == ops::AttentionMask::kAdditive ? static_cast<const float*>(in[3].data) : nullptr;
  const auto* maskB =
      hasMask && g.maskKind == ops::AttentionMask::kBool ? static_cast<const uint8_t*>(in[3].data) : nullptr;
  auto* out = static_cast<float*>(call.outputs[0].data);
  constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

  const int64_t pairs = g.batch * g.heads;
  const int64_t grain =
      std::max<int64_t>(1, ops::kParallelGrain / std::max<int64_t>(1, g.queries * g.keys * g.headDim));
  ops::parallelForRange(pairs, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(g.keys));
    std::vector<double> accum(static_cast<size_t>(g.valueDim));
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t b = pair / g.heads, h = pair % g.heads;
      const float* qb = q + b * g.q.batch + h * g.q.head;
      const float* kb = k + b * g.k.batch + (h / g.kGroup) * g.k.head;
      const float* vb = v + b * g.v.batch + (h / g.vGroup) * g.v.head;
      float* ob = out + b * g.out.batch + h * g.out.head;
      const int64_t maskBase = b * g.maskBatch + h * g.maskHead;
      for (int64_t i = 0; i < g.queries; ++i) {
        const float* qi = qb + i * g.q.row;
        float rowMax = kMinusInf;
        for (int64_t j = 0; j < g.keys; ++j) {
          const float* kj = kb + j * g.k.row;
          float dot = 0.f;
          for (int64_t d = 0; d < g.headDim; ++d) dot += qi[d] * kj[d];
          float s = dot * g.scale;
          const int64_t m = maskBase + i * g.maskQuery + j * g.maskKey;
          if (maskF) s += maskF[m];
          if (maskB && !maskB[m]) s = kMinusInf;
          if (g.causal && j > i) s = kMinusInf;
          scores[static_cast<size_t>(j)] = s;
          rowMax = std::fmax(rowMax, s);  // fmax skips NaN; a NaN score still
                                          // makes the sum (and row) NaN below
        }
        // A row with no finite score: exp(s - max) would be exp(-inf + inf); its sum is taken as 0 instead.
        const float shift = rowMax == kMinusInf ? 0.f : rowMax;
        double sum = 0;
        for (int64_t j = 0; j < g.keys; ++j) {
          const float p = std::exp(scores[static_cast<size_t>(j)] - shift);
          scores[static_cast<size_t>(j)] = p;
          sum += p;
        }
        std::fill(accum.begin(), accum.end(), 0.0);
        for (int64_t j = 0; j < g.keys; ++j) {
          const double p = scores[static_cast<size_t>(j)];  // no skip of p == 0: 0 * inf in V is NaN unfused too
          const float* vj = vb + j * g.v.row;
          for (int64_t d = 0; d < g.valueDim; ++d) accum[static_cast<size_t>(d)] += p * vj[d];
        }
        float* oi = ob + i * g.out.row;
        // Softmax of a row with nothing to attend to is 0/0 (NaN); the exporters' Where(IsNaN(p), 0, p) makes it 0. No
        // keys at all is an empty sum: 0.
        const bool empty = !(sum > 0) && g.keys > 0;
        for (int64_t d = 0; d < g.valueDim; ++d)
          oi[d] = g.keys == 0 ? 0.f
                  : empty     ? (g.zeroMaskedRows ? 0.f : std::numeric_limits<float>::quiet_NaN())
                              : static_cast<float>(accum[static_cast<size_t>(d)] / sum);
      }
    }
  });
  return Status::ok();
}

}  // namespace kiln::backends::cpu

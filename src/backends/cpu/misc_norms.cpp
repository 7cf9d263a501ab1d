// CPU kernels of the misc family, part 2: LRN, LpNormalization, MeanVarianceNormalization, RMSNormalization.
// Statistics accumulate in double; formulas are the ONNX specs' (MVN's is its function body: (x - E[x]) /
// (sqrt(E[x^2] - E[x]^2) + 1e-9)).
#include <cmath>
#include <vector>

#include "backends/cpu/misc_kernels.h"
#include "ops/data_movement_params.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

template <typename T>
Status runLrn(const KernelCall& call) {
  const auto& attrs = call.node.attrs;
  const double alpha = attrs.getFloat("alpha", 1e-4f), beta = attrs.getFloat("beta", 0.75f);
  const double bias = attrs.getFloat("bias", 1.0f);
  const int64_t size = attrs.getInt("size", 1);
  const Dims& d = call.inputs[0].dims;
  const int64_t n = d[0], c = d[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < d.size(); ++i) spatial *= d[i];
  const int64_t below = (size - 1) / 2, above = size - 1 - below;  // floor and ceil of (size-1)/2
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* y = static_cast<T*>(call.outputs[0].data);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t s = 0; s < spatial; ++s) {
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, ch - below); k <= std::min(c - 1, ch + above); ++k) {
          const double v = x[(b * c + k) * spatial + s];
          sq += v * v;
        }
        const int64_t at = (b * c + ch) * spatial + s;
        y[at] = static_cast<T>(x[at] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
      }
  return Status::ok();
}

template <typename T>
Status runLpNorm(const KernelCall& call) {
  const Dims& d = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", -1),
                                                         static_cast<int64_t>(d.size()), call.where() + "'axis'"));
  const bool l1 = call.node.attrs.getInt("p", 2) == 1;
  const AxisSplit s = splitAround(d, axis);
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* y = static_cast<T*>(call.outputs[0].data);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t base = o * s.len * s.inner + i;
      double norm = 0;
      for (int64_t k = 0; k < s.len; ++k) {
        const double v = x[base + k * s.inner];
        norm += l1 ? std::fabs(v) : v * v;
      }
      if (!l1) norm = std::sqrt(norm);
      // A zero vector stays zero (ONNX's reference), instead of 0/0.
      for (int64_t k = 0; k < s.len; ++k)
        y[base + k * s.inner] = norm == 0 ? T(0) : static_cast<T>(x[base + k * s.inner] / norm);
    }
  return Status::ok();
}

/// Calls body(groupOffsets) for each group of elements that share the non-normalized coordinates: the elements
/// of one group are all combinations of the normalized axes.
template <typename Body>
void forEachGroup(const Dims& dims, const std::vector<bool>& normalized, Body body) {
  const size_t rank = dims.size();
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank; d-- > 1;) strides[d - 1] = strides[d] * dims[d];
  std::vector<int64_t> groupOffsets{0};  // offsets of the normalized combinations
  for (size_t d = 0; d < rank; ++d) {
    if (!normalized[d]) continue;
    std::vector<int64_t> next;
    for (int64_t base : groupOffsets)
      for (int64_t i = 0; i < dims[d]; ++i) next.push_back(base + i * strides[d]);
    groupOffsets = std::move(next);
  }
  std::vector<int64_t> starts{0};
  for (size_t d = 0; d < rank; ++d) {
    if (normalized[d]) continue;
    std::vector<int64_t> next;
    for (int64_t base : starts)
      for (int64_t i = 0; i < dims[d]; ++i) next.push_back(base + i * strides[d]);
    starts = std::move(next);
  }
  for (int64_t start : starts) body(start, groupOffsets);
}

template <typename T>
Status runMvn(const KernelCall& call) {
  const Dims& d = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                        ops::normalizeAxes(call.node.attrs.getInts("axes", {0, 2, 3}), static_cast<int64_t>(d.size()),
                                           call.where() + "attribute 'axes'"));
  std::vector<bool> normalized(d.size(), false);
  for (int64_t a : axes) normalized[static_cast<size_t>(a)] = true;
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* y = static_cast<T*>(call.outputs[0].data);
  forEachGroup(d, normalized, [&](int64_t start, const std::vector<int64_t>& offs) {
    double sum = 0, sumSq = 0;
    for (int64_t off : offs) {
      const double v = x[start + off];
      sum += v;
      sumSq += v * v;
    }
    const double count = static_cast<double>(offs.size());
    const double mean = sum / count;
    const double stdev = std::sqrt(std::max(0.0, sumSq / count - mean * mean));
    for (int64_t off : offs) y[start + off] = static_cast<T>((x[start + off] - mean) / (stdev + 1e-9));
  });
  return Status::ok();
}

template <typename T>
Status runRmsNorm(const KernelCall& call) {
  const Dims& d = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", -1),
                                                         static_cast<int64_t>(d.size()), call.where() + "'axis'"));
  const double eps = call.node.attrs.getFloat("epsilon", 1e-5f);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < static_cast<int64_t>(d.size()); ++i) (i < axis ? outer : inner) *= d[i];
  // Expand scale (right-aligned broadcast) to one value per normalized element.
  const Dims& sd = call.inputs[1].dims;
  const T* scale = static_cast<const T*>(call.inputs[1].data);
  std::vector<double> sc(static_cast<size_t>(inner));
  for (int64_t j = 0; j < inner; ++j) {
    int64_t rem = j, off = 0, stride = 1;
    for (size_t a = d.size(), s = sd.size(); a-- > static_cast<size_t>(axis);) {
      const int64_t coord = rem % d[a];
      rem /= d[a];
      if (s > 0) {
        --s;
        if (sd[s] != 1) off += coord * stride;
        stride *= sd[s];
      }
    }
    sc[static_cast<size_t>(j)] = static_cast<double>(scale[off]);
  }
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* y = static_cast<T*>(call.outputs[0].data);
  for (int64_t o = 0; o < outer; ++o) {
    const T* row = x + o * inner;
    double sumSq = 0;
    for (int64_t j = 0; j < inner; ++j) sumSq += static_cast<double>(row[j]) * static_cast<double>(row[j]);
    const double inv = 1.0 / std::sqrt(sumSq / static_cast<double>(inner) + eps);
    for (int64_t j = 0; j < inner; ++j)
      y[o * inner + j] = static_cast<T>(static_cast<double>(row[j]) * inv * sc[static_cast<size_t>(j)]);
  }
  return Status::ok();
}

template <typename T>
Status runTyped(const KernelCall& call) {
  switch (call.node.op) {
    case OpKind::kLRN: return runLrn<T>(call);
    case OpKind::kLpNormalization: return runLpNorm<T>(call);
    case OpKind::kMeanVarianceNormalization: return runMvn<T>(call);
    case OpKind::kRMSNormalization: return runRmsNorm<T>(call);
    default: return internalError(call.where() + "not a misc normalization");
  }
}

}  // namespace

Status runMiscNormalization(const KernelCall& call) {
  switch (call.inputs[0].dtype) {
    case DataType::kFloat32: return runTyped<float>(call);
    case DataType::kFloat64: return runTyped<double>(call);
    default: return unsupported(call.where() + "no CPU kernel for dtype " + dataTypeName(call.inputs[0].dtype));
  }
}

}  // namespace kiln::backends::cpu

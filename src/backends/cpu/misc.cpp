// CPU kernels of the misc family, part 1: dispatch, Hardmax, TopK, Einsum (a direct sum over every label
// combination, accumulated in double) and Det (LU with partial pivoting in double).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/elementwise_kernels.h"
#include "backends/cpu/misc_kernels.h"
#include "ops/data_movement_params.h"
#include "ops/einsum_equation.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

template <typename Fn>
Status withFloatType(const KernelCall& call, Fn&& fn) {
  switch (call.inputs[0].dtype) {
    case DataType::kFloat32: return fn(float{});
    case DataType::kFloat64: return fn(double{});
    default: return unsupported(call.where() + "no CPU kernel for dtype " + dataTypeName(call.inputs[0].dtype));
  }
}

template <typename T>
Status runHardmax(const KernelCall& call) {
  const Dims& dims = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", -1),
                                                         static_cast<int64_t>(dims.size()), call.where() + "'axis'"));
  const AxisSplit s = splitAround(dims, axis);
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* y = static_cast<T*>(call.outputs[0].data);
  std::fill(y, y + call.outputs[0].elementCount(), T(0));
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t base = o * s.len * s.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < s.len; ++k)
        if (x[base + k * s.inner] > x[base + best * s.inner]) best = k;  // the first maximum wins
      if (s.len > 0) y[base + best * s.inner] = T(1);
    }
  return Status::ok();
}

template <typename T>
Status runTopK(const KernelCall& call) {
  const Dims& dims = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", -1),
                                                         static_cast<int64_t>(dims.size()), call.where() + "'axis'"));
  const bool largest = call.node.attrs.getInt("largest", 1) != 0;
  const AxisSplit s = splitAround(dims, axis);
  const int64_t k = call.outputs[0].dims[static_cast<size_t>(axis)];
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* values = static_cast<T*>(call.outputs[0].data);
  auto* indices = static_cast<int64_t*>(call.outputs[1].data);
  std::vector<int64_t> order(static_cast<size_t>(s.len));
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const T* row = x + o * s.len * s.inner + i;
      std::iota(order.begin(), order.end(), 0);
      // Ties keep the lower index first (ONNX); NaN counts as the largest value.
      auto before = [&](int64_t a, int64_t b) {
        const T va = row[a * s.inner], vb = row[b * s.inner];
        const bool na = va != va, nb = vb != vb;
        if (na || nb) {
          if (na && nb) return a < b;
          return largest ? na : nb;
        }
        if (va != vb) return largest ? va > vb : va < vb;
        return a < b;
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t at = o * k * s.inner + j * s.inner + i;
        values[at] = row[order[static_cast<size_t>(j)] * s.inner];
        indices[at] = order[static_cast<size_t>(j)];
      }
    }
  return Status::ok();
}

template <typename T>
Status runEinsum(const KernelCall& call) {
  std::vector<Dims> shapes;
  for (const auto& in : call.inputs) shapes.push_back(in.dims);
  KILN_ASSIGN_OR_RETURN(ops::EinsumPlan plan,
                        ops::planEinsum(call.node.attrs.getString("equation", ""), shapes, call.where()));
  const size_t labels = static_cast<size_t>(plan.labelCount);
  // Per operand and output: the stride each label contributes (0 where the label is absent or broadcast).
  auto stridesFor = [&](const std::vector<int>& axisLabels, const Dims& dims) {
    std::vector<int64_t> strides(labels, 0);
    int64_t stride = 1;
    for (size_t a = axisLabels.size(); a-- > 0;) {
      if (dims[a] != 1) strides[static_cast<size_t>(axisLabels[a])] += stride;
      stride *= dims[a];
    }
    return strides;
  };
  std::vector<std::vector<int64_t>> inStrides;
  for (size_t k = 0; k < shapes.size(); ++k) inStrides.push_back(stridesFor(plan.operandLabels[k], shapes[k]));
  const std::vector<int64_t> outStrides = stridesFor(plan.outputLabels, plan.outputDims);
  const int64_t outCount = call.outputs[0].elementCount();
  std::vector<double> acc(static_cast<size_t>(outCount), 0.0);
  int64_t total = 1;
  for (int64_t s : plan.labelSize) total *= s;
  std::vector<int64_t> idx(labels, 0);
  for (int64_t n = 0; n < total; ++n) {
    double prod = 1.0;
    for (size_t k = 0; k < shapes.size(); ++k) {
      int64_t off = 0;
      for (size_t l = 0; l < labels; ++l) off += idx[l] * inStrides[k][l];
      prod *= static_cast<double>(static_cast<const T*>(call.inputs[k].data)[off]);
    }
    int64_t outOff = 0;
    for (size_t l = 0; l < labels; ++l) outOff += idx[l] * outStrides[l];
    acc[static_cast<size_t>(outOff)] += prod;
    for (size_t l = labels; l-- > 0;) {  // odometer increment
      if (++idx[l] < plan.labelSize[l]) break;
      idx[l] = 0;
    }
  }
  T* out = static_cast<T*>(call.outputs[0].data);
  for (int64_t i = 0; i < outCount; ++i) out[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
  return Status::ok();
}

template <typename T>
Status runDet(const KernelCall& call) {
  const Dims& dims = call.inputs[0].dims;
  const int64_t n = dims.back();
  const int64_t batch = call.outputs[0].elementCount();
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* y = static_cast<T*>(call.outputs[0].data);
  std::vector<double> a(static_cast<size_t>(n * n));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < n * n; ++i) a[static_cast<size_t>(i)] = static_cast<double>(x[b * n * n + i]);
    double det = 1.0;
    for (int64_t c = 0; c < n && det != 0.0; ++c) {
      int64_t pivot = c;
      for (int64_t r = c + 1; r < n; ++r)
        if (std::fabs(a[r * n + c]) > std::fabs(a[pivot * n + c])) pivot = r;
      if (a[pivot * n + c] == 0.0) {
        det = 0.0;
        break;
      }
      if (pivot != c) {
        for (int64_t j = 0; j < n; ++j) std::swap(a[c * n + j], a[pivot * n + j]);
        det = -det;
      }
      det *= a[c * n + c];
      for (int64_t r = c + 1; r < n; ++r) {
        const double f = a[r * n + c] / a[c * n + c];
        for (int64_t j = c; j < n; ++j) a[r * n + j] -= f * a[c * n + j];
      }
    }
    y[b] = static_cast<T>(det);
  }
  return Status::ok();
}

}  // namespace

Status runMisc(const KernelCall& call) {
  if (call.inputs.empty() || !call.inputs[0].present() || call.outputs.empty())
    return internalError(call.where() + "kernel called without data input or output");
  switch (call.node.op) {
    case OpKind::kHardmax: return withFloatType(call, [&](auto t) { return runHardmax<decltype(t)>(call); });
    case OpKind::kEinsum: return withFloatType(call, [&](auto t) { return runEinsum<decltype(t)>(call); });
    case OpKind::kDet: return withFloatType(call, [&](auto t) { return runDet<decltype(t)>(call); });
    case OpKind::kTopK:
      if (call.outputs.size() != 2) return internalError(call.where() + "TopK needs 2 outputs");
      return withAnyNumericType(call, call.inputs[0].dtype, [&](auto t) -> Status {
        if constexpr (std::is_same_v<decltype(t), Half>) return unsupported(call.where() + "TopK on float16");
        else return runTopK<decltype(t)>(call);
      });
    case OpKind::kLRN: case OpKind::kLpNormalization: case OpKind::kMeanVarianceNormalization:
    case OpKind::kRMSNormalization:
      return runMiscNormalization(call);
    case OpKind::kNegativeLogLikelihoodLoss: case OpKind::kSoftmaxCrossEntropyLoss: return runLoss(call);
    default: return unsupported(call.where() + "no CPU kernel for this operator");
  }
}

}  // namespace kiln::backends::cpu

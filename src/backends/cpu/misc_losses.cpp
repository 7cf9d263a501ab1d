// CPU kernels of the misc family, part 3: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (= log-softmax
// over axis 1, then NLL). ONNX semantics: loss[n, d] = -input[n, t, d] * weight[t] with t = target[n, d]; a target
// equal to ignore_index contributes 0 and no weight; "mean" divides by the summed weights of the used targets.
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/misc_kernels.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

template <typename T, typename I>
Status nll(const KernelCall& call, const T* logp, const Dims& dims, const I* target, T* out) {
  const int64_t n = dims[0], c = dims[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < dims.size(); ++i) spatial *= dims[i];
  const bool hasWeight = call.inputs.size() > 2 && call.inputs[2].present();
  const T* weight = hasWeight ? static_cast<const T*>(call.inputs[2].data) : nullptr;
  const bool hasIgnore = call.node.attrs.has("ignore_index");
  const int64_t ignore = call.node.attrs.getInt("ignore_index", 0);
  const std::string reduction = call.node.attrs.getString("reduction", "mean");
  std::vector<double> losses(static_cast<size_t>(n * spatial));
  double lossSum = 0, weightSum = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t s = 0; s < spatial; ++s) {
      const int64_t t = static_cast<int64_t>(target[b * spatial + s]);
      double loss = 0, w = 0;
      if (!(hasIgnore && t == ignore)) {
        if (t < 0 || t >= c)
          return invalidArgument(call.where() + "target value " + std::to_string(t) + " at flat index " +
                                 std::to_string(b * spatial + s) + " is outside [0, " + std::to_string(c) + ")");
        w = weight ? static_cast<double>(weight[t]) : 1.0;
        loss = -static_cast<double>(logp[(b * c + t) * spatial + s]) * w;
      }
      losses[static_cast<size_t>(b * spatial + s)] = loss;
      lossSum += loss;
      weightSum += w;
    }
  if (reduction == "none") {
    for (size_t i = 0; i < losses.size(); ++i) out[i] = static_cast<T>(losses[i]);
  } else if (reduction == "sum") {
    out[0] = static_cast<T>(lossSum);
  } else {
    out[0] = static_cast<T>(lossSum / weightSum);
  }
  return Status::ok();
}

/// log-softmax over axis 1 of (N, C, spatial...), in double.
template <typename T>
void logSoftmaxAxis1(const T* x, const Dims& dims, T* y) {
  const int64_t n = dims[0], c = dims[1];
  int64_t spatial = 1;
  for (size_t i = 2; i < dims.size(); ++i) spatial *= dims[i];
  for (int64_t b = 0; b < n; ++b)
    for (int64_t s = 0; s < spatial; ++s) {
      double peak = -INFINITY;
      for (int64_t k = 0; k < c; ++k) peak = std::max(peak, static_cast<double>(x[(b * c + k) * spatial + s]));
      double sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(x[(b * c + k) * spatial + s]) - peak);
      const double logSum = std::log(sum) + peak;
      for (int64_t k = 0; k < c; ++k) {
        const int64_t at = (b * c + k) * spatial + s;
        y[at] = static_cast<T>(static_cast<double>(x[at]) - logSum);
      }
    }
}

template <typename T>
Status runTyped(const KernelCall& call) {
  const Dims& dims = call.inputs[0].dims;
  const T* x = static_cast<const T*>(call.inputs[0].data);
  T* out = static_cast<T*>(call.outputs[0].data);
  const T* logp = x;
  std::vector<T> scratch;
  if (call.node.op == OpKind::kSoftmaxCrossEntropyLoss) {
    T* lp = nullptr;
    if (call.outputs.size() > 1 && call.outputs[1].data) {
      lp = static_cast<T*>(call.outputs[1].data);
    } else {
      scratch.resize(static_cast<size_t>(call.inputs[0].elementCount()));
      lp = scratch.data();
    }
    logSoftmaxAxis1(x, dims, lp);
    logp = lp;
  }
  if (call.inputs[1].dtype == DataType::kInt64)
    return nll<T>(call, logp, dims, static_cast<const int64_t*>(call.inputs[1].data), out);
  return nll<T>(call, logp, dims, static_cast<const int32_t*>(call.inputs[1].data), out);
}

}  // namespace

Status runLoss(const KernelCall& call) {
  if (call.inputs.size() < 2) return internalError(call.where() + "loss needs 2 inputs");
  switch (call.inputs[0].dtype) {
    case DataType::kFloat32: return runTyped<float>(call);
    case DataType::kFloat64: return runTyped<double>(call);
    default: return unsupported(call.where() + "no CPU kernel for dtype " + dataTypeName(call.inputs[0].dtype));
  }
}

}  // namespace kiln::backends::cpu

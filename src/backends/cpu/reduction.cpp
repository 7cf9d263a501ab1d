// CPU kernels of the reduction family. Float data accumulates in double; integer data in int64.
//
// ReduceX merges the input dims into alternating kept/reduced groups; a trailing kept group becomes a contiguous
// "inner" run, so every reduction is: for each block of output elements, add rows of the input into an
// accumulator row (vectorizable, cache-friendly for any axis set).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "ops/data_movement_params.h"
#include "ops/reduction_axes.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

constexpr int64_t kInnerBlock = 512;  // output elements one work item accumulates at once
constexpr int64_t kParallelElements = 1 << 15;

struct ReducePlan {
  Dims outerDims, outerStrides;  // kept groups before the inner run
  Dims reducedDims, reducedStrides;
  int64_t inner = 1;
  int64_t count = 1;  // elements reduced into each output
};

ReducePlan makePlan(const Dims& in, const std::vector<bool>& reduced) {
  Dims sizes;
  std::vector<bool> flags;
  for (size_t d = 0; d < in.size(); ++d) {
    if (in[d] == 1) continue;
    if (!sizes.empty() && flags.back() == reduced[d]) {
      sizes.back() *= in[d];
    } else {
      sizes.push_back(in[d]);
      flags.push_back(reduced[d]);
    }
  }
  ReducePlan p;
  Dims strides(sizes.size(), 1);
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 2; d >= 0; --d) strides[d] = strides[d + 1] * sizes[d + 1];
  size_t end = sizes.size();
  if (end > 0 && !flags.back()) {
    p.inner = sizes.back();
    --end;
  }
  for (size_t d = 0; d < end; ++d) {
    (flags[d] ? p.reducedDims : p.outerDims).push_back(sizes[d]);
    (flags[d] ? p.reducedStrides : p.outerStrides).push_back(strides[d]);
    if (flags[d]) p.count *= sizes[d];
  }
  return p;
}

template <typename T>
using AccOf = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename T, OpKind K>
void reduceKernel(const ReducePlan& p, const T* src, T* dst) {
  using Acc = AccOf<T>;
  const int64_t outer = elementCount(p.outerDims);
  const int64_t blocks = (p.inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t items = outer * blocks;
  const int64_t reducedRank = static_cast<int64_t>(p.reducedDims.size());
  const bool parallel = outer * p.inner * p.count >= kParallelElements;
#pragma omp parallel if (parallel)
  {
    std::vector<Acc> acc(static_cast<size_t>(std::min(p.inner, kInnerBlock)));
    std::vector<Acc> peak(K == OpKind::kReduceLogSumExp ? acc.size() : 0);
    std::vector<int64_t> index(reducedRank);
#pragma omp for
    for (int64_t item = 0; item < items; ++item) {
      const int64_t o = item / blocks;
      const int64_t j0 = (item - o * blocks) * kInnerBlock;
      const int64_t n = std::min(kInnerBlock, p.inner - j0);
      int64_t base = 0;
      for (int64_t d = static_cast<int64_t>(p.outerDims.size()) - 1, r = o; d >= 0; --d) {
        base += (r % p.outerDims[d]) * p.outerStrides[d];
        r /= p.outerDims[d];
      }
      base += j0;
      // Visits every reduced position: fn(row) with row pointing at the n inputs for this block.
      auto forEachRow = [&](auto&& fn) {
        std::fill(index.begin(), index.end(), 0);
        int64_t offset = 0;
        for (int64_t k = 0; k < p.count; ++k) {
          fn(src + base + offset);
          for (int64_t d = reducedRank - 1; d >= 0; --d) {
            offset += p.reducedStrides[d];
            if (++index[d] < p.reducedDims[d]) break;
            offset -= p.reducedDims[d] * p.reducedStrides[d];
            index[d] = 0;
          }
        }
      };
      if constexpr (K == OpKind::kReduceMax || K == OpKind::kReduceMin || K == OpKind::kReduceLogSumExp) {
        const Acc start = K == OpKind::kReduceMin ? std::numeric_limits<Acc>::max()
                                                  : std::numeric_limits<Acc>::lowest();
        std::vector<Acc>& m = K == OpKind::kReduceLogSumExp ? peak : acc;
        std::fill(m.begin(), m.begin() + n, start);
        forEachRow([&](const T* row) {
          for (int64_t j = 0; j < n; ++j) {
            const Acc x = static_cast<Acc>(row[j]);
            if constexpr (K == OpKind::kReduceMin) m[j] = x < m[j] ? x : m[j];
            else m[j] = x > m[j] ? x : m[j];
          }
        });
      }
      if constexpr (K == OpKind::kReduceLogSumExp) {
        // log(sum(exp(x))) = max + log(sum(exp(x - max))): no overflow for large inputs.
        std::fill(acc.begin(), acc.begin() + n, Acc{0});
        forEachRow([&](const T* row) {
          for (int64_t j = 0; j < n; ++j) acc[j] += std::exp(static_cast<Acc>(row[j]) - peak[j]);
        });
        for (int64_t j = 0; j < n; ++j) acc[j] = p.count == 0 ? -INFINITY : peak[j] + std::log(acc[j]);
      } else if constexpr (K != OpKind::kReduceMax && K != OpKind::kReduceMin) {
        std::fill(acc.begin(), acc.begin() + n, K == OpKind::kReduceProd ? Acc{1} : Acc{0});
        forEachRow([&](const T* row) {
          for (int64_t j = 0; j < n; ++j) {
            const Acc x = static_cast<Acc>(row[j]);
            if constexpr (K == OpKind::kReduceProd) acc[j] *= x;
            else if constexpr (K == OpKind::kReduceL1) acc[j] += x < 0 ? -x : x;
            else if constexpr (K == OpKind::kReduceL2 || K == OpKind::kReduceSumSquare) acc[j] += x * x;
            else acc[j] += x;
          }
        });
      }
      T* out = dst + o * p.inner + j0;
      for (int64_t j = 0; j < n; ++j) {
        Acc v = acc[j];
        if constexpr (K == OpKind::kReduceMean) v = v / static_cast<Acc>(p.count);
        if constexpr (K == OpKind::kReduceL2) v = std::sqrt(v);
        if constexpr (K == OpKind::kReduceLogSum) v = std::log(v);
        out[j] = static_cast<T>(v);
      }
    }
  }
}

template <typename T>
Status reduceTyped(const KernelCall& call, const ReducePlan& p) {
  const T* src = static_cast<const T*>(call.inputs[0].data);
  T* dst = static_cast<T*>(call.outputs[0].data);
  if constexpr (!std::is_floating_point_v<T>) {
    switch (call.node.op) {
      case OpKind::kReduceSum: reduceKernel<T, OpKind::kReduceSum>(p, src, dst); return Status::ok();
      case OpKind::kReduceMax: reduceKernel<T, OpKind::kReduceMax>(p, src, dst); return Status::ok();
      case OpKind::kReduceMin: reduceKernel<T, OpKind::kReduceMin>(p, src, dst); return Status::ok();
      case OpKind::kReduceProd: reduceKernel<T, OpKind::kReduceProd>(p, src, dst); return Status::ok();
      default: return unsupported(call.where() + "integer data is not supported by this reduction");
    }
  }
  switch (call.node.op) {
    case OpKind::kReduceMean: reduceKernel<T, OpKind::kReduceMean>(p, src, dst); break;
    case OpKind::kReduceSum: reduceKernel<T, OpKind::kReduceSum>(p, src, dst); break;
    case OpKind::kReduceMax: reduceKernel<T, OpKind::kReduceMax>(p, src, dst); break;
    case OpKind::kReduceMin: reduceKernel<T, OpKind::kReduceMin>(p, src, dst); break;
    case OpKind::kReduceProd: reduceKernel<T, OpKind::kReduceProd>(p, src, dst); break;
    case OpKind::kReduceL1: reduceKernel<T, OpKind::kReduceL1>(p, src, dst); break;
    case OpKind::kReduceL2: reduceKernel<T, OpKind::kReduceL2>(p, src, dst); break;
    case OpKind::kReduceSumSquare: reduceKernel<T, OpKind::kReduceSumSquare>(p, src, dst); break;
    case OpKind::kReduceLogSumExp: reduceKernel<T, OpKind::kReduceLogSumExp>(p, src, dst); break;
    case OpKind::kReduceLogSum: reduceKernel<T, OpKind::kReduceLogSum>(p, src, dst); break;
    default: return internalError(call.where() + "not a ReduceX op");
  }
  return Status::ok();
}

Status runReduce(const KernelCall& call) {
  const Dims& in = call.inputs[0].dims;
  std::vector<int64_t> axes;
  bool given = false;
  if (call.inputs.size() > 1 && call.inputs[1].present()) {
    const DeviceTensor& a = call.inputs[1];
    KILN_ASSIGN_OR_RETURN(axes, ops::readIntegers(a.dtype, a.data, a.elementCount(), call.where() + "input 'axes'"));
    given = true;
  } else if (call.node.attrs.has("axes")) {
    axes = call.node.attrs.getInts("axes");
    given = true;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<bool> reduced, ops::reducedAxes(call.node, static_cast<int64_t>(in.size()), axes,
                                                                    given, call.where()));
  const ReducePlan p = makePlan(in, reduced);
  if (call.outputs[0].elementCount() != elementCount(p.outerDims) * p.inner)
    return internalError(call.where() + "reduction output has an unexpected size");
  switch (call.inputs[0].dtype) {
    case DataType::kFloat32: return reduceTyped<float>(call, p);
    case DataType::kFloat64: return reduceTyped<double>(call, p);
    case DataType::kInt64: return reduceTyped<int64_t>(call, p);
    case DataType::kInt32: return reduceTyped<int32_t>(call, p);
    default: break;
  }
  return unsupported(call.where() + "data of type " + dataTypeName(call.inputs[0].dtype) + " is not supported");
}

// Views the data as [outer, axisLen, inner] around one axis.
struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
};
AxisView viewAround(const Dims& dims, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < axis; ++d) v.outer *= dims[d];
  v.len = dims[axis];
  for (size_t d = axis + 1; d < dims.size(); ++d) v.inner *= dims[d];
  return v;
}

template <typename T>
void argKernel(const AxisView& v, const T* src, int64_t* dst, bool isMax, bool last) {
#pragma omp parallel for if (v.outer * v.len * v.inner >= kParallelElements)
  for (int64_t o = 0; o < v.outer; ++o) {
    const T* block = src + o * v.len * v.inner;
    for (int64_t j = 0; j < v.inner; ++j) {
      T best = block[j];
      int64_t at = 0;
      for (int64_t r = 1; r < v.len; ++r) {
        const T x = block[r * v.inner + j];
        const bool better = isMax ? (last ? x >= best : x > best) : (last ? x <= best : x < best);
        if (better) {
          best = x;
          at = r;
        }
      }
      dst[o * v.inner + j] = at;
    }
  }
}

Status runArg(const KernelCall& call) {
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0),
                                                         static_cast<int64_t>(in.size()),
                                                         call.where() + "attribute 'axis'"));
  const AxisView v = viewAround(in, axis);
  if (v.len == 0) return invalidArgument(call.where() + "cannot take the arg of an empty axis");
  const bool isMax = call.node.op == OpKind::kArgMax;
  const bool last = call.node.attrs.getInt("select_last_index", 0) != 0;
  auto* dst = static_cast<int64_t*>(call.outputs[0].data);
  const void* src = call.inputs[0].data;
  switch (call.inputs[0].dtype) {
    case DataType::kFloat32: argKernel(v, static_cast<const float*>(src), dst, isMax, last); break;
    case DataType::kFloat64: argKernel(v, static_cast<const double*>(src), dst, isMax, last); break;
    case DataType::kInt64: argKernel(v, static_cast<const int64_t*>(src), dst, isMax, last); break;
    case DataType::kInt32: argKernel(v, static_cast<const int32_t*>(src), dst, isMax, last); break;
    default: return unsupported(call.where() + "data of type " + dataTypeName(call.inputs[0].dtype));
  }
  return Status::ok();
}

template <typename T>
void cumSumKernel(const AxisView& v, const T* src, T* dst, bool exclusive, bool reverse, bool product) {
  using Acc = AccOf<T>;
  const Acc start = product ? Acc{1} : Acc{0};
#pragma omp parallel if (v.outer * v.len * v.inner >= kParallelElements)
  {
    std::vector<Acc> acc(static_cast<size_t>(v.inner));
#pragma omp for
    for (int64_t o = 0; o < v.outer; ++o) {
      std::fill(acc.begin(), acc.end(), start);
      for (int64_t step = 0; step < v.len; ++step) {
        const int64_t r = reverse ? v.len - 1 - step : step;
        const T* x = src + (o * v.len + r) * v.inner;
        T* y = dst + (o * v.len + r) * v.inner;
        for (int64_t j = 0; j < v.inner; ++j) {
          if (exclusive) y[j] = static_cast<T>(acc[j]);
          if (product) acc[j] *= static_cast<Acc>(x[j]);
          else acc[j] += static_cast<Acc>(x[j]);
          if (!exclusive) y[j] = static_cast<T>(acc[j]);
        }
      }
    }
  }
}

Status runCumSum(const KernelCall& call) {
  const Dims& in = call.inputs[0].dims;
  const DeviceTensor& a = call.inputs[1];
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axisValue,
                        ops::readIntegers(a.dtype, a.data, a.elementCount(), call.where() + "input 'axis'"));
  if (axisValue.size() != 1) return invalidArgument(call.where() + "input 'axis' must hold one value");
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(axisValue[0], static_cast<int64_t>(in.size()),
                                                         call.where() + "input 'axis'"));
  const AxisView v = viewAround(in, axis);
  const bool exclusive = call.node.attrs.getInt("exclusive", 0) != 0;
  const bool reverse = call.node.attrs.getInt("reverse", 0) != 0;
  const bool product = call.node.op == OpKind::kCumProd;
  const void* src = call.inputs[0].data;
  void* dst = call.outputs[0].data;
  switch (call.inputs[0].dtype) {
    case DataType::kFloat32:
      cumSumKernel(v, static_cast<const float*>(src), static_cast<float*>(dst), exclusive, reverse, product);
      break;
    case DataType::kFloat64:
      cumSumKernel(v, static_cast<const double*>(src), static_cast<double*>(dst), exclusive, reverse, product);
      break;
    case DataType::kInt64:
      cumSumKernel(v, static_cast<const int64_t*>(src), static_cast<int64_t*>(dst), exclusive, reverse, product);
      break;
    case DataType::kInt32:
      cumSumKernel(v, static_cast<const int32_t*>(src), static_cast<int32_t*>(dst), exclusive, reverse, product);
      break;
    default: return unsupported(call.where() + "data of type " + dataTypeName(call.inputs[0].dtype));
  }
  return Status::ok();
}

}  // namespace

Status runReduction(const KernelCall& call) {
  if (call.inputs.empty() || call.outputs.empty() || !call.inputs[0].present())
    return internalError(call.where() + "kernel called without data input or output");
  switch (call.node.op) {
    case OpKind::kArgMax:
    case OpKind::kArgMin: return runArg(call);
    case OpKind::kCumSum: case OpKind::kCumProd: return runCumSum(call);
    default: return runReduce(call);
  }
}

}  // namespace kiln::backends::cpu

// CPU kernels: Gather, GatherElements, GatherND, ScatterND, ScatterElements, Trilu. Index values are checked
// before any memory is touched: an out-of-range index is an error, never a wild read or write.
#include <algorithm>
#include <cstring>

#include "backends/cpu/data_movement_kernels.h"
#include "ops/data_movement_params.h"

namespace kiln::backends::cpu::datamove {
namespace {

constexpr int64_t kParallelElements = 1 << 15;

// Reads indices and maps negative ones into [0, dim); `dimOf(i)` gives the bound for index number i.
template <typename DimOf>
Expected<std::vector<int64_t>> checkedIndices(const KernelCall& call, size_t input, DimOf dimOf) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, inputIntegers(call, input, "indices"));
  for (size_t i = 0; i < idx.size(); ++i) {
    const int64_t dim = dimOf(i);
    int64_t v = idx[i];
    if (v < -dim || v >= dim)
      return invalidArgument(call.where() + "'indices' element " + std::to_string(i) + " = " + std::to_string(v) +
                             " is outside [" + std::to_string(-dim) + ", " + std::to_string(dim - 1) + "]");
    idx[i] = v < 0 ? v + dim : v;
  }
  return idx;
}

size_t elemSize(const KernelCall& call) { return dataTypeSize(call.inputs[0].dtype); }

// Advances a row-major multi-index over `dims`; returns false after the last one.
bool nextIndex(std::vector<int64_t>& index, const Dims& dims) {
  for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
    if (++index[d] < dims[d]) return true;
    index[d] = 0;
  }
  return false;
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction reductionOf(const ir::Node& node) {
  const std::string r = node.attrs.getString("reduction", "none");
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return Reduction::kNone;
}

template <typename T>
void combine(T* dst, const T* src, int64_t count, Reduction r) {
  for (int64_t i = 0; i < count; ++i) {
    switch (r) {
      case Reduction::kNone: dst[i] = src[i]; break;
      case Reduction::kAdd: dst[i] = static_cast<T>(dst[i] + src[i]); break;
      case Reduction::kMul: dst[i] = static_cast<T>(dst[i] * src[i]); break;
      case Reduction::kMax: dst[i] = std::max(dst[i], src[i]); break;
      case Reduction::kMin: dst[i] = std::min(dst[i], src[i]); break;
    }
  }
}

// Calls fn(T{}) with the arithmetic type of `dtype` (for scatter reductions); by-size otherwise for kNone.
template <typename Fn>
Status dispatchCombine(const KernelCall& call, Reduction r, Fn&& fn) {
  const DataType t = call.inputs[0].dtype;
  if (r == Reduction::kNone) {
    dispatchBySize(dataTypeSize(t), fn);
    return Status::ok();
  }
  switch (t) {
    case DataType::kFloat32: fn(float{}); return Status::ok();
    case DataType::kFloat64: fn(double{}); return Status::ok();
    case DataType::kInt64: fn(int64_t{}); return Status::ok();
    case DataType::kInt32: fn(int32_t{}); return Status::ok();
    default: break;
  }
  return unsupported(call.where() + "reduction '" + call.node.attrs.getString("reduction", "none") +
                     "' is not supported for " + dataTypeName(t));
}

}  // namespace

Status runGather(const KernelCall& call) {
  const Dims& data = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(data.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0), rank,
                                                         call.where() + "attribute 'axis'"));
  const int64_t axisDim = data[axis];
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, checkedIndices(call, 1, [&](size_t) { return axisDim; }));
  const int64_t outer = elementCount(std::span<const int64_t>(data.data(), axis));
  const int64_t inner = elementCount(std::span<const int64_t>(data.data() + axis + 1, rank - axis - 1));
  const int64_t n = static_cast<int64_t>(idx.size());
  dispatchBySize(elemSize(call), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(call.inputs[0].data);
    T* dst = static_cast<T*>(call.outputs[0].data);
    const int64_t rows = outer * n;
#pragma omp parallel for if (rows * inner >= kParallelElements)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t o = row / n;
      const T* s = src + (o * axisDim + idx[row - o * n]) * inner;
      T* d = dst + row * inner;
      if (inner == 1) *d = *s;
      else std::memcpy(d, s, static_cast<size_t>(inner) * sizeof(T));
    }
  });
  return Status::ok();
}

Status runGatherElements(const KernelCall& call) {
  const Dims& data = call.inputs[0].dims;
  const Dims& idxDims = call.inputs[1].dims;
  const int64_t rank = static_cast<int64_t>(data.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0), rank,
                                                         call.where() + "attribute 'axis'"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, checkedIndices(call, 1, [&](size_t) { return data[axis]; }));
  if (idx.empty()) return Status::ok();
  const Dims strides = contiguousStrides(data);
  dispatchBySize(elemSize(call), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(call.inputs[0].data);
    T* dst = static_cast<T*>(call.outputs[0].data);
    std::vector<int64_t> index(rank, 0);
    size_t i = 0;
    do {
      int64_t offset = 0;
      for (int64_t d = 0; d < rank; ++d) offset += (d == axis ? idx[i] : index[d]) * strides[d];
      dst[i++] = src[offset];
    } while (nextIndex(index, idxDims));
  });
  return Status::ok();
}

Status runGatherND(const KernelCall& call) {
  const Dims& data = call.inputs[0].dims;
  const Dims& idxDims = call.inputs[1].dims;
  const int64_t b = call.node.attrs.getInt("batch_dims", 0);
  const int64_t k = idxDims.back();
  const Dims strides = contiguousStrides(data);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                        checkedIndices(call, 1, [&](size_t i) { return data[b + static_cast<int64_t>(i % k)]; }));
  const int64_t batches = elementCount(std::span<const int64_t>(data.data(), b));
  const int64_t tuples = static_cast<int64_t>(idx.size()) / k;
  const int64_t perBatch = batches == 0 ? 0 : tuples / batches;
  const int64_t batchStride = elementCount(std::span<const int64_t>(data.data() + b, data.size() - b));
  const int64_t slice = elementCount(std::span<const int64_t>(data.data() + b + k, data.size() - b - k));
  const size_t bytes = static_cast<size_t>(slice) * elemSize(call);
  const auto* src = static_cast<const char*>(call.inputs[0].data);
  auto* dst = static_cast<char*>(call.outputs[0].data);
  const int64_t es = static_cast<int64_t>(elemSize(call));
#pragma omp parallel for if (tuples * slice >= kParallelElements)
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t offset = (perBatch == 0 ? 0 : t / perBatch) * batchStride;
    for (int64_t j = 0; j < k; ++j) offset += idx[t * k + j] * strides[b + j];
    if (bytes) std::memcpy(dst + t * slice * es, src + offset * es, bytes);
  }
  return Status::ok();
}

Status runScatterND(const KernelCall& call) {
  const Dims& data = call.inputs[0].dims;
  const int64_t k = call.inputs[1].dims.back();
  const Dims strides = contiguousStrides(data);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                        checkedIndices(call, 1, [&](size_t i) { return data[static_cast<int64_t>(i % k)]; }));
  const size_t es = elemSize(call);
  std::memcpy(call.outputs[0].data, call.inputs[0].data, static_cast<size_t>(call.outputs[0].elementCount()) * es);
  const int64_t tuples = static_cast<int64_t>(idx.size()) / k;
  const int64_t slice = elementCount(std::span<const int64_t>(data.data() + k, data.size() - k));
  const Reduction r = reductionOf(call.node);
  // Sequential on purpose: duplicate indices must apply in order.
  return dispatchCombine(call, r, [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(call.outputs[0].data);
    const T* upd = static_cast<const T*>(call.inputs[2].data);
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t offset = 0;
      for (int64_t j = 0; j < k; ++j) offset += idx[t * k + j] * strides[j];
      combine<T>(out + offset, upd + t * slice, slice, r);
    }
  });
}

Status runScatterElements(const KernelCall& call) {
  const Dims& data = call.inputs[0].dims;
  const Dims& idxDims = call.inputs[1].dims;
  const int64_t rank = static_cast<int64_t>(data.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0), rank,
                                                         call.where() + "attribute 'axis'"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, checkedIndices(call, 1, [&](size_t) { return data[axis]; }));
  const size_t es = elemSize(call);
  std::memcpy(call.outputs[0].data, call.inputs[0].data, static_cast<size_t>(call.outputs[0].elementCount()) * es);
  if (idx.empty()) return Status::ok();
  const Dims strides = contiguousStrides(data);
  const Reduction r = reductionOf(call.node);
  return dispatchCombine(call, r, [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(call.outputs[0].data);
    const T* upd = static_cast<const T*>(call.inputs[2].data);
    std::vector<int64_t> index(rank, 0);
    size_t i = 0;
    do {
      int64_t offset = 0;
      for (int64_t d = 0; d < rank; ++d) offset += (d == axis ? idx[i] : index[d]) * strides[d];
      combine<T>(out + offset, upd + i, 1, r);
      ++i;
    } while (nextIndex(index, idxDims));
  });
}

Status runTrilu(const KernelCall& call) {
  const Dims& dims = call.inputs[0].dims;
  int64_t k = 0;
  if (hasInput(call, 1)) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> kv, inputIntegers(call, 1, "k"));
    if (kv.size() != 1) return invalidArgument(call.where() + "'k' must hold one value");
    k = kv[0];
  }
  const bool upper = call.node.attrs.getInt("upper", 1) != 0;
  const int64_t rows = dims[dims.size() - 2];
  const int64_t cols = dims.back();
  const int64_t mats = rows * cols == 0 ? 0 : call.inputs[0].elementCount() / (rows * cols);
  dispatchBySize(elemSize(call), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(call.inputs[0].data);
    T* dst = static_cast<T*>(call.outputs[0].data);
#pragma omp parallel for if (mats * rows * cols >= kParallelElements)
    for (int64_t mr = 0; mr < mats * rows; ++mr) {
      const int64_t i = mr % rows;
      const T* s = src + mr * cols;
      T* d = dst + mr * cols;
      for (int64_t j = 0; j < cols; ++j) {
        // Compare in a form that cannot overflow for huge |k|.
        const bool keep = upper ? (j - i >= k) : (j - i <= k);
        d[j] = keep ? s[j] : T{0};
      }
    }
  });
  return Status::ok();
}

}  // namespace kiln::backends::cpu::datamove

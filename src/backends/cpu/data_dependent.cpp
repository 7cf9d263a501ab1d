// CPU kernels of NonZero, Unique, NonMaxSuppression, and of TopK / Compress with a run-time K / condition.
#include "backends/cpu/data_dependent.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "backends/cpu/misc_kernels.h"
#include "core/half.h"
#include "ops/data_movement_params.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

// The count output, or null when the runtime gave none (shapes already exact).
int64_t* countSlot(const KernelCall& call) {
  const size_t n = call.node.outputs.size();
  return call.outputs.size() > n ? static_cast<int64_t*>(call.outputs[n].data) : nullptr;
}

// Every element as a double, in a total order where NaN sorts last and equals itself (keys for Unique; NonZero
// reads `!= 0`). int64/uint64 beyond 2^53 would round, so those compare in their own type below.
double loadAsDouble(const std::byte* p, DataType t) {
  switch (t) {
    case DataType::kFloat32: { float v; std::memcpy(&v, p, 4); return v; }
    case DataType::kFloat64: { double v; std::memcpy(&v, p, 8); return v; }
    case DataType::kFloat16: { uint16_t v; std::memcpy(&v, p, 2); return halfBitsToFloat(v); }
    case DataType::kBFloat16: { uint16_t v; std::memcpy(&v, p, 2); return bfloat16BitsToFloat(v); }
    case DataType::kInt8: return static_cast<double>(*reinterpret_cast<const int8_t*>(p));
    case DataType::kUInt8: case DataType::kBool: return static_cast<double>(*reinterpret_cast<const uint8_t*>(p));
    case DataType::kInt16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case DataType::kUInt16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case DataType::kInt32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DataType::kUInt32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case DataType::kInt64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DataType::kUInt64: { uint64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    default: return 0;
  }
}

// -1, 0, 1 comparing two elements; NaN after every number and equal to NaN.
int compareElements(const std::byte* a, const std::byte* b, DataType t) {
  if (t == DataType::kInt64) {
    int64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (t == DataType::kUInt64) {
    uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const double x = loadAsDouble(a, t), y = loadAsDouble(b, t);
  const bool nx = std::isnan(x), ny = std::isnan(y);
  if (nx || ny) return nx == ny ? 0 : nx ? 1 : -1;
  return x < y ? -1 : x > y ? 1 : 0;
}

Status checkCapacity(const KernelCall& call, int64_t count, int64_t capacity) {
  if (count > capacity)
    return internalError(call.where() + "count " + std::to_string(count) + " exceeds the output's planned bound " +
                         std::to_string(capacity));
  return Status::ok();
}

Status runNonZero(const KernelCall& call) {
  const DeviceTensor& x = call.inputs[0];
  const int64_t n = x.elementCount();
  const size_t es = dataTypeSize(x.dtype);
  const auto* p = static_cast<const std::byte*>(x.data);
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += loadAsDouble(p + i * es, x.dtype) != 0.0;
  KILN_RETURN_IF_ERROR(checkCapacity(call, count, call.outputs[0].dims[1]));
  const Dims dims = x.dims.empty() ? Dims{1} : x.dims;
  const size_t rank = dims.size();
  auto* out = static_cast<int64_t*>(call.outputs[0].data);
  Dims index(rank, 0);
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (loadAsDouble(p + i * es, x.dtype) != 0.0) {
      for (size_t d = 0; d < rank; ++d) out[d * count + j] = index[d];
      ++j;
    }
    for (size_t d = rank; d-- > 0;) {  // row-major increment
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
  if (int64_t* c = countSlot(call)) *c = count;
  return Status::ok();
}

Status runTopKAtRunTimeK(const KernelCall& call) {
  KILN_ASSIGN_OR_RETURN(auto kv, ops::readIntegers(call.inputs[1].dtype, call.inputs[1].data,
                                                  call.inputs[1].elementCount(), call.where() + "input 'K'"));
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", -1),
                                                         static_cast<int64_t>(in.size()), call.where() + "'axis'"));
  const int64_t k = kv.empty() ? -1 : kv[0];
  if (k < 0 || k > in[static_cast<size_t>(axis)])
    return invalidArgument(call.where() + "input 'K' = " + std::to_string(k) + " must be in [0, " +
                           std::to_string(in[static_cast<size_t>(axis)]) + "] (the size of axis " +
                           std::to_string(axis) + ")");
  DeviceTensor outs[2] = {call.outputs[0], call.outputs[1]};
  for (auto& o : outs) o.dims[static_cast<size_t>(axis)] = k;
  KILN_RETURN_IF_ERROR(executeNode(call.graph, call.node, call.inputs, outs));
  if (int64_t* c = countSlot(call)) *c = k;
  return Status::ok();
}

Status runCompressAtRunTimeCondition(const KernelCall& call) {
  const auto* cond = static_cast<const uint8_t*>(call.inputs[1].data);
  const int64_t len = call.inputs[1].elementCount();
  int64_t count = 0;
  for (int64_t i = 0; i < len; ++i) count += cond[i] != 0;
  // The family kernel writes the kept slices densely; it reads only the condition, not the output's dims.
  KILN_RETURN_IF_ERROR(executeNode(call.graph, call.node, call.inputs, call.outputs.first(1)));
  if (int64_t* c = countSlot(call)) *c = count;
  return Status::ok();
}

Status runUnique(const KernelCall& call) {
  const DeviceTensor& x = call.inputs[0];
  const size_t es = dataTypeSize(x.dtype);
  const bool hasAxis = call.node.attrs.has("axis");
  AxisSplit s{1, x.elementCount(), 1};
  if (hasAxis) {
    KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0),
                                                           static_cast<int64_t>(x.dims.size()), call.where() + "'axis'"));
    s = splitAround(x.dims, axis);
  }
  const auto* p = static_cast<const std::byte*>(x.data);
  auto at = [&](int64_t slice, int64_t o, int64_t i) { return p + ((o * s.len + slice) * s.inner + i) * es; };
  // Slices compare lexicographically over (outer, inner) order, as numpy.unique(axis=...) flattens them.
  auto compare = [&](int64_t a, int64_t b) {
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i)
        if (int c = compareElements(at(a, o, i), at(b, o, i), x.dtype)) return c;
    return 0;
  };
  std::vector<int64_t> order(static_cast<size_t>(s.len));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
  // Groups of equal slices in sorted order; each group's first occurrence is its first member (stable sort).
  std::vector<int64_t> groupFirst, groupCount, groupOf(static_cast<size_t>(s.len));
  for (size_t k = 0; k < order.size(); ++k) {
    if (k == 0 || compare(order[k - 1], order[k]) != 0) {
      groupFirst.push_back(order[k]);
      groupCount.push_back(0);
    }
    ++groupCount.back();
    groupOf[static_cast<size_t>(order[k])] = static_cast<int64_t>(groupFirst.size()) - 1;
  }
  const int64_t count = static_cast<int64_t>(groupFirst.size());
  // Output position of each group: sorted order, or order of first occurrence.
  std::vector<int64_t> position(groupFirst.size());
  std::iota(position.begin(), position.end(), 0);
  if (call.node.attrs.getInt("sorted", 1) == 0) {
    std::vector<int64_t> byFirst(groupFirst.size());
    std::iota(byFirst.begin(), byFirst.end(), 0);
    std::sort(byFirst.begin(), byFirst.end(), [&](int64_t a, int64_t b) { return groupFirst[a] < groupFirst[b]; });
    for (size_t r = 0; r < byFirst.size(); ++r) position[static_cast<size_t>(byFirst[r])] = static_cast<int64_t>(r);
  }
  auto* y = static_cast<std::byte*>(call.outputs[0].data);
  for (size_t g = 0; g < groupFirst.size(); ++g)
    for (int64_t o = 0; o < s.outer; ++o)
      std::memcpy(y + ((o * count + position[g]) * s.inner) * es, at(groupFirst[g], o, 0),
                  static_cast<size_t>(s.inner) * es);
  auto output = [&](size_t k) -> int64_t* {
    return call.node.outputs.size() > k && call.node.outputs[k] != ir::kNoValue && call.outputs[k].data
               ? static_cast<int64_t*>(call.outputs[k].data)
               : nullptr;
  };
  if (int64_t* indices = output(1))
    for (size_t g = 0; g < groupFirst.size(); ++g) indices[position[g]] = groupFirst[g];
  if (int64_t* inverse = output(2))
    for (int64_t i = 0; i < s.len; ++i) inverse[i] = position[static_cast<size_t>(groupOf[static_cast<size_t>(i)])];
  if (int64_t* counts = output(3))
    for (size_t g = 0; g < groupFirst.size(); ++g) counts[position[g]] = groupCount[g];
  if (int64_t* c = countSlot(call)) *c = count;
  return Status::ok();
}

// ONNX NonMaxSuppression as onnxruntime computes it: a box is suppressed by a selected one of the same class when
// their IoU exceeds the threshold; boxes with no area suppress nothing.
struct Corners {
  float yMin, xMin, yMax, xMax;
};

Corners cornersOf(const float* b, bool centerPoint) {
  if (centerPoint) return {b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2};
  return {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
}

bool suppresses(const Corners& a, const Corners& b, float iouThreshold) {
  const float ixMin = std::max(a.xMin, b.xMin), ixMax = std::min(a.xMax, b.xMax);
  const float iyMin = std::max(a.yMin, b.yMin), iyMax = std::min(a.yMax, b.yMax);
  if (ixMax <= ixMin || iyMax <= iyMin) return false;
  const float areaA = (a.xMax - a.xMin) * (a.yMax - a.yMin), areaB = (b.xMax - b.xMin) * (b.yMax - b.yMin);
  if (areaA <= 0 || areaB <= 0) return false;
  const float inter = (ixMax - ixMin) * (iyMax - iyMin);
  const float uni = areaA + areaB - inter;
  if (uni <= 0) return false;
  return inter / uni > iouThreshold;
}

Status runNms(const KernelCall& call) {
  const Dims& bd = call.inputs[0].dims;
  const int64_t batches = bd[0], boxes = bd[1], classes = call.inputs[1].dims[1];
  auto present = [&](size_t i) { return call.inputs.size() > i && call.inputs[i].present(); };
  int64_t maxOut = 0;
  if (present(2)) std::memcpy(&maxOut, call.inputs[2].data, sizeof(int64_t));
  maxOut = std::clamp<int64_t>(maxOut, 0, boxes);
  float iouThreshold = 0, scoreThreshold = 0;
  if (present(3)) std::memcpy(&iouThreshold, call.inputs[3].data, sizeof(float));
  if (present(4)) std::memcpy(&scoreThreshold, call.inputs[4].data, sizeof(float));
  const bool centerPoint = call.node.attrs.getInt("center_point_box", 0) != 0;
  const auto* boxData = static_cast<const float*>(call.inputs[0].data);
  const auto* scoreData = static_cast<const float*>(call.inputs[1].data);
  auto* out = static_cast<int64_t*>(call.outputs[0].data);
  const int64_t capacity = call.outputs[0].dims[0];
  int64_t count = 0;
  std::vector<int64_t> candidates, selected;
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t c = 0; c < classes; ++c) {
      const float* scores = scoreData + (b * classes + c) * boxes;
      candidates.clear();
      for (int64_t i = 0; i < boxes; ++i)
        if (!present(4) || scores[i] > scoreThreshold) candidates.push_back(i);
      // Highest score first; equal scores keep the lower box index first.
      std::stable_sort(candidates.begin(), candidates.end(),
                       [&](int64_t x, int64_t y) { return scores[x] > scores[y]; });
      selected.clear();
      for (int64_t i : candidates) {
        if (static_cast<int64_t>(selected.size()) >= maxOut) break;
        const Corners ci = cornersOf(boxData + (b * boxes + i) * 4, centerPoint);
        bool keep = true;
        for (int64_t j : selected)
          if (suppresses(cornersOf(boxData + (b * boxes + j) * 4, centerPoint), ci, iouThreshold)) {
            keep = false;
            break;
          }
        if (keep) selected.push_back(i);
      }
      KILN_RETURN_IF_ERROR(checkCapacity(call, count + static_cast<int64_t>(selected.size()), capacity));
      for (int64_t i : selected) {
        out[count * 3] = b;
        out[count * 3 + 1] = c;
        out[count * 3 + 2] = i;
        ++count;
      }
    }
  if (int64_t* c = countSlot(call)) *c = count;
  return Status::ok();
}

}  // namespace

bool runsDataDependent(const ir::Node& node, std::span<const DeviceTensor> outputs) {
  switch (node.op) {
    case OpKind::kNonZero: case OpKind::kUnique: case OpKind::kNonMaxSuppression: return true;
    case OpKind::kTopK: case OpKind::kCompress: return outputs.size() > node.outputs.size();
    default: return false;
  }
}

Status runDataDependent(const KernelCall& call) {
  switch (call.node.op) {
    case OpKind::kNonZero: return runNonZero(call);
    case OpKind::kUnique: return runUnique(call);
    case OpKind::kNonMaxSuppression: return runNms(call);
    case OpKind::kTopK: return runTopKAtRunTimeK(call);
    case OpKind::kCompress: return runCompressAtRunTimeCondition(call);
    default: return internalError(call.where() + "not a data-dependent operator");
  }
}

}  // namespace kiln::backends::cpu

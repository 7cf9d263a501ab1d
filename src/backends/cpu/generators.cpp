// CPU kernels of the generators: Shape, Size, ConstantOfShape, Range. Output dims come from shape inference.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "backends/cpu/cpu_kernels.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

Status runShape(const KernelCall& call) {
  const Dims& dims = call.inputs[0].dims;
  const auto rank = static_cast<int64_t>(dims.size());
  auto clampAxis = [rank](int64_t a) { return std::clamp(a < 0 ? a + rank : a, int64_t(0), rank); };
  const int64_t start = clampAxis(call.node.attrs.getInt("start", 0));
  const int64_t end = clampAxis(call.node.attrs.getInt("end", rank));
  const DeviceTensor& out = call.outputs[0];
  if (out.dtype != DataType::kInt64 || out.elementCount() != std::max<int64_t>(end - start, 0))
    return internalError(call.where() + "output does not match the inferred shape");
  auto* p = static_cast<int64_t*>(out.data);
  for (int64_t i = start; i < end; ++i) p[i - start] = dims[i];
  return Status::ok();
}

Status runConstantOfShape(const KernelCall& call) {
  const DeviceTensor& out = call.outputs[0];
  const size_t size = dataTypeSize(out.dtype);
  const Tensor* value = call.node.attrs.getTensor("value");
  std::byte zero[16] = {};
  const void* element = zero;
  if (value) {
    if (value->dtype() != out.dtype || value->elementCount() != 1 || !value->data())
      return internalError(call.where() + "attribute 'value' does not match the output dtype");
    element = value->data();
  } else if (out.dtype != DataType::kFloat32) {
    return internalError(call.where() + "output dtype without a 'value' attribute must be float32");
  }
  if (size == 0 || size > sizeof(zero)) return internalError(call.where() + "unusable output dtype");
  const int64_t n = out.elementCount();
  auto* dst = static_cast<std::byte*>(out.data);
  // Fill by doubling memcpy: a few calls regardless of size or element width.
  if (n <= 0) return Status::ok();
  std::memcpy(dst, element, size);
  size_t filled = size;
  const size_t total = static_cast<size_t>(n) * size;
  while (filled < total) {
    const size_t chunk = std::min(filled, total - filled);
    std::memcpy(dst + filled, dst, chunk);
    filled += chunk;
  }
  return Status::ok();
}

template <typename T>
Status fillRange(const KernelCall& call) {
  const T start = *static_cast<const T*>(call.inputs[0].data);
  const T delta = *static_cast<const T*>(call.inputs[2].data);
  const DeviceTensor& out = call.outputs[0];
  auto* p = static_cast<T*>(out.data);
  const int64_t n = out.elementCount();
  // output[i] = start + i * delta (the ONNX spec's formula; no accumulated rounding for floats).
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_floating_point_v<T>)
      p[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    else
      p[i] = static_cast<T>(static_cast<uint64_t>(int64_t(start)) + static_cast<uint64_t>(i) * static_cast<uint64_t>(int64_t(delta)));
  }
  return Status::ok();
}

Status runRange(const KernelCall& call) {
  for (int i = 0; i < 3; ++i)
    if (call.inputs[i].data == nullptr || call.inputs[i].elementCount() != 1)
      return internalError(call.where() + "input " + std::to_string(i) + " is not a scalar with data");
  switch (call.outputs[0].dtype) {
    case DataType::kFloat32: return fillRange<float>(call);
    case DataType::kInt64: return fillRange<int64_t>(call);
    case DataType::kInt32: return fillRange<int32_t>(call);
    default: return unsupported(call.where() + "Range on dtype " + dataTypeName(call.outputs[0].dtype));
  }
}

/// EyeLike: zeros with ones at (i, i + k).
Status runEyeLike(const KernelCall& call) {
  const DeviceTensor& out = call.outputs[0];
  const int64_t rows = out.dims[0], cols = out.dims[1];
  const int64_t k = call.node.attrs.getInt("k", 0);
  const size_t es = dataTypeSize(out.dtype);
  std::memset(out.data, 0, static_cast<size_t>(rows * cols) * es);
  auto fill = [&](auto one) {
    auto* p = static_cast<decltype(one)*>(out.data);
    for (int64_t i = 0; i < rows; ++i)
      if (i + k >= 0 && i + k < cols) p[i * cols + i + k] = one;
  };
  switch (out.dtype) {
    case DataType::kFloat32: fill(1.0f); break;
    case DataType::kFloat64: fill(1.0); break;
    case DataType::kInt64: fill(int64_t{1}); break;
    case DataType::kInt32: fill(int32_t{1}); break;
    case DataType::kInt16: fill(int16_t{1}); break;
    case DataType::kInt8: fill(int8_t{1}); break;
    case DataType::kUInt64: fill(uint64_t{1}); break;
    case DataType::kUInt32: fill(uint32_t{1}); break;
    case DataType::kUInt16: fill(uint16_t{1}); break;
    case DataType::kUInt8: case DataType::kBool: fill(uint8_t{1}); break;
    default: return unsupported(call.where() + "EyeLike on dtype " + dataTypeName(out.dtype));
  }
  return Status::ok();
}

}  // namespace

Status runGenerator(const KernelCall& call) {
  if (call.outputs.size() != 1) return internalError(call.where() + "expected 1 output");
  const size_t needed = call.node.op == OpKind::kRange ? 3 : 1;
  if (call.inputs.size() < needed) return internalError(call.where() + "missing inputs");
  switch (call.node.op) {
    case OpKind::kShape: return runShape(call);
    case OpKind::kSize:
      if (call.outputs[0].dtype != DataType::kInt64 || call.outputs[0].elementCount() != 1)
        return internalError(call.where() + "output must be an int64 scalar");
      *static_cast<int64_t*>(call.outputs[0].data) = call.inputs[0].elementCount();
      return Status::ok();
    case OpKind::kConstantOfShape: return runConstantOfShape(call);
    case OpKind::kRange: return runRange(call);
    case OpKind::kEyeLike: return runEyeLike(call);
    case OpKind::kConstant:
      return internalError(call.where() + "Constant nodes must be removed by the importer before execution");
    default: return internalError(call.where() + "not a generator op");
  }
}

}  // namespace kiln::backends::cpu

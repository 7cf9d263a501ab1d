// CPU kernels of OneHot, ReverseSequence and Compress. Values move by their byte size, so every dtype works.
#include <cstring>
#include <vector>

#include "backends/cpu/data_movement_kernels.h"
#include "ops/data_movement_params.h"

namespace kiln::backends::cpu::datamove {
namespace {

/// Numeric tensor contents as int64 (float indices truncate toward zero, as numpy's astype).
Expected<std::vector<int64_t>> asIntegers(const KernelCall& call, const DeviceTensor& t, const std::string& name) {
  const int64_t n = t.elementCount();
  std::vector<int64_t> v(static_cast<size_t>(n));
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(t.data);
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<int64_t>(p[i]);
  };
  switch (t.dtype) {
    case DataType::kFloat32: fill(float{}); break;
    case DataType::kFloat64: fill(double{}); break;
    case DataType::kInt64: fill(int64_t{}); break;
    case DataType::kInt32: fill(int32_t{}); break;
    case DataType::kInt16: fill(int16_t{}); break;
    case DataType::kInt8: fill(int8_t{}); break;
    case DataType::kUInt64: fill(uint64_t{}); break;
    case DataType::kUInt32: fill(uint32_t{}); break;
    case DataType::kUInt16: fill(uint16_t{}); break;
    case DataType::kUInt8: fill(uint8_t{}); break;
    default: return unsupported(call.where() + "input '" + name + "' of dtype " + dataTypeName(t.dtype));
  }
  return v;
}

}  // namespace

Status runOneHot(const KernelCall& call) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> indices, asIntegers(call, call.inputs[0], "indices"));
  const DeviceTensor& out = call.outputs[0];
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", -1),
                                                         static_cast<int64_t>(out.dims.size()),
                                                         call.where() + "attribute 'axis'"));
  const int64_t depth = out.dims[static_cast<size_t>(axis)];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(out.dims.size()); ++d) {
    if (d < axis) outer *= out.dims[d];
    else if (d > axis) inner *= out.dims[d];
  }
  const size_t es = dataTypeSize(out.dtype);
  const auto* values = static_cast<const std::byte*>(call.inputs[2].data);
  auto* dst = static_cast<std::byte*>(out.data);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < depth; ++k)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t idx = indices[static_cast<size_t>(o * inner + i)];
        if (idx < 0) idx += depth;  // negative indices count from the end; out of range gives all 'off'
        const bool on = idx == k;
        std::memcpy(dst + ((o * depth + k) * inner + i) * es, values + (on ? es : 0), es);
      }
  return Status::ok();
}

Status runReverseSequence(const KernelCall& call) {
  const Dims& d = call.inputs[0].dims;
  const int64_t timeAxis = call.node.attrs.getInt("time_axis", 0);
  const int64_t steps = d[static_cast<size_t>(timeAxis)], batch = d[static_cast<size_t>(1 - timeAxis)];
  int64_t inner = 1;
  for (size_t i = 2; i < d.size(); ++i) inner *= d[i];
  const auto* lens = static_cast<const int64_t*>(call.inputs[1].data);
  const size_t es = dataTypeSize(call.inputs[0].dtype);
  const auto* src = static_cast<const std::byte*>(call.inputs[0].data);
  auto* dst = static_cast<std::byte*>(call.outputs[0].data);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = lens[b];
    if (len < 0 || len > steps)
      return invalidArgument(call.where() + "sequence_lens[" + std::to_string(b) + "] = " + std::to_string(len) +
                             " is outside [0, " + std::to_string(steps) + "]");
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t from = t < len ? len - 1 - t : t;
      auto offset = [&](int64_t time) { return (timeAxis == 0 ? time * batch + b : b * steps + time) * inner; };
      std::memcpy(dst + offset(t) * es, src + offset(from) * es, static_cast<size_t>(inner) * es);
    }
  }
  return Status::ok();
}

Status runCompress(const KernelCall& call) {
  const Dims& d = call.inputs[0].dims;
  const auto* cond = static_cast<const uint8_t*>(call.inputs[1].data);
  const int64_t condLen = call.inputs[1].elementCount();
  const size_t es = dataTypeSize(call.inputs[0].dtype);
  const auto* src = static_cast<const std::byte*>(call.inputs[0].data);
  auto* dst = static_cast<std::byte*>(call.outputs[0].data);
  int64_t outer = 1, len = call.inputs[0].elementCount(), inner = 1;
  if (call.node.attrs.has("axis")) {
    KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0),
                                                           static_cast<int64_t>(d.size()), call.where() + "'axis'"));
    outer = 1;
    inner = 1;
    for (int64_t i = 0; i < static_cast<int64_t>(d.size()); ++i) {
      if (i < axis) outer *= d[i];
      else if (i > axis) inner *= d[i];
    }
    len = d[static_cast<size_t>(axis)];
  }
  const size_t chunk = static_cast<size_t>(inner) * es;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < std::min(len, condLen); ++i)
      if (cond[i]) {
        std::memcpy(dst, src + static_cast<size_t>(o * len + i) * chunk, chunk);
        dst += chunk;
      }
  return Status::ok();
}

}  // namespace kiln::backends::cpu::datamove

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "kiln/types.h"

namespace kiln {

size_t dataTypeSize(DataType type) {
  switch (type) {
    case DataType::kFloat32: case DataType::kInt32: case DataType::kUInt32: return 4;
    case DataType::kUInt8: case DataType::kInt8: case DataType::kBool: return 1;
    case DataType::kUInt16: case DataType::kInt16: case DataType::kFloat16: case DataType::kBFloat16: return 2;
    case DataType::kInt64: case DataType::kFloat64: case DataType::kUInt64: return 8;
    case DataType::kUndefined: case DataType::kString: return 0;
  }
  return 0;
}

std::string dataTypeName(DataType type) {
  switch (type) {
    case DataType::kUndefined: return "undefined";
    case DataType::kFloat32: return "float32";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt8: return "int8";
    case DataType::kUInt16: return "uint16";
    case DataType::kInt16: return "int16";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kString: return "string";
    case DataType::kBool: return "bool";
    case DataType::kFloat16: return "float16";
    case DataType::kFloat64: return "float64";
    case DataType::kUInt32: return "uint32";
    case DataType::kUInt64: return "uint64";
    case DataType::kBFloat16: return "bfloat16";
  }
  return "unknown(" + std::to_string(static_cast<int>(type)) + ")";
}

bool isKnownDataType(int32_t v) { return (v >= 0 && v <= 13) || v == 16; }

std::string dimsToString(std::span<const int64_t> dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += "x";
    s += dims[i] == kDynamicDim ? "?" : std::to_string(dims[i]);
  }
  return s;
}

int64_t elementCount(std::span<const int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

const char* deviceKindName(DeviceKind kind) { return kind == DeviceKind::kCuda ? "cuda" : "cpu"; }

Expected<Tensor> Tensor::allocate(DataType type, Dims dims) {
  const int64_t count = kiln::elementCount(dims);
  if (count < 0) return invalidArgument("cannot allocate a tensor of shape " + dimsToString(dims));
  if (dataTypeSize(type) == 0) return invalidArgument("cannot allocate a tensor of type " + dataTypeName(type));
  const size_t bytes = static_cast<size_t>(count) * dataTypeSize(type);
  if (count > 0 && bytes / static_cast<size_t>(count) != dataTypeSize(type))
    return outOfMemory("tensor of shape " + dimsToString(dims) + " is too large");
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = rounded ? std::aligned_alloc(64, rounded) : std::aligned_alloc(64, 64);
  if (!p) return outOfMemory("host allocation of " + std::to_string(bytes) + " bytes failed");
  std::memset(p, 0, rounded ? rounded : 64);
  Tensor t;
  t.dtype_ = type;
  t.dims_ = std::move(dims);
  t.storage_ = std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::view(DataType type, Dims dims, void* data) {
  Tensor t;
  t.dtype_ = type;
  t.dims_ = std::move(dims);
  t.data_ = data;
  return t;
}

int64_t Tensor::elementCount() const { return kiln::elementCount(dims_); }

size_t Tensor::byteSize() const {
  const int64_t n = elementCount();
  return n < 0 ? 0 : static_cast<size_t>(n) * dataTypeSize(dtype_);
}

Expected<Tensor> Tensor::reshaped(Dims dims) const {
  if (kiln::elementCount(dims) != elementCount())
    return invalidArgument("cannot reshape " + dimsToString(dims_) + " to " + dimsToString(dims));
  Tensor t = *this;
  t.dims_ = std::move(dims);
  return t;
}

Expected<Tensor> Tensor::clone() const {
  KILN_ASSIGN_OR_RETURN(Tensor t, allocate(dtype_, dims_));
  if (byteSize()) std::memcpy(t.data(), data_, byteSize());
  return t;
}

}  // namespace kiln

// kiln — data types, shapes and host tensors shared by the whole public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln {

/// Element types. The numbers are ONNX TensorProto.DataType's, and are stored in engine files: never renumber.
enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

/// Bytes per element; 0 for kUndefined and kString.
size_t dataTypeSize(DataType type);
/// "float32", "int64", ...; "unknown(N)" for a number kiln does not know.
std::string dataTypeName(DataType type);
/// True for the numbers listed in DataType (engine and model readers check this before a cast).
bool isKnownDataType(int32_t value);

/// A concrete shape. Dims of value kDynamicDim appear only in declared (not yet specified) shapes.
using Dims = std::vector<int64_t>;
inline constexpr int64_t kDynamicDim = -1;

/// "1x3x256x144"; a dynamic dim prints as "?" (or its symbol name when one is given).
std::string dimsToString(std::span<const int64_t> dims);
/// Element count of a concrete shape (1 for a scalar). Returns -1 on overflow or a negative dim.
int64_t elementCount(std::span<const int64_t> dims);

/// A host tensor that owns (shares) its memory, 64-byte aligned. Copying shares the storage.
class Tensor {
 public:
  Tensor() = default;
  /// Allocates zero-filled storage; fails cleanly on a negative dim or an allocation failure.
  static Expected<Tensor> allocate(DataType type, Dims dims);
  /// Wraps external memory without owning it (the caller keeps it alive).
  static Tensor view(DataType type, Dims dims, void* data);

  DataType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t elementCount() const;
  size_t byteSize() const;
  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T> T* dataAs() { return static_cast<T*>(data_); }
  template <typename T> const T* dataAs() const { return static_cast<const T*>(data_); }
  bool empty() const { return data_ == nullptr && elementCount() != 0; }
  /// Same storage, new shape with the same element count.
  Expected<Tensor> reshaped(Dims dims) const;
  /// Deep copy.
  Expected<Tensor> clone() const;

 private:
  DataType dtype_ = DataType::kUndefined;
  Dims dims_;
  std::shared_ptr<std::byte> storage_;
  void* data_ = nullptr;
};

/// Where an engine runs.
enum class DeviceKind : int32_t { kCpu = 0, kCuda = 1 };
const char* deviceKindName(DeviceKind kind);

/// Precisions the builder may use (DESIGN.md rule 6). FP32 is always allowed.
enum class Precision : int32_t { kFP32 = 0, kTF32 = 1, kFP16 = 2, kBF16 = 3, kINT8 = 4, kFP8 = 5 };

}  // namespace kiln

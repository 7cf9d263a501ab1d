#include "onnx/tensor_proto.h"

#include <bit>
#include <cstring>

#include "onnx/external_data.h"

namespace kiln::onnx {
namespace {

static_assert(std::endian::native == std::endian::little, "raw_data is little-endian; a big-endian host needs swaps");

std::string onnxTypeName(int32_t elemType) {
  switch (elemType) {
    case 14: return "complex64";
    case 15: return "complex128";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    default: return "type " + std::to_string(elemType);
  }
}

// Which repeated field holds the values of a tensor of `type` when raw_data is not used.
enum class TypedField { kFloat, kInt32, kInt64, kDouble, kUInt64 };

TypedField typedFieldOf(DataType type) {
  switch (type) {
    case DataType::kFloat32: return TypedField::kFloat;
    case DataType::kInt64: return TypedField::kInt64;
    case DataType::kFloat64: return TypedField::kDouble;
    case DataType::kUInt32: case DataType::kUInt64: return TypedField::kUInt64;
    default: return TypedField::kInt32;  // int32 and every type of 16 bits or fewer, as bit patterns
  }
}

const char* typedFieldName(TypedField f) {
  switch (f) {
    case TypedField::kFloat: return "float_data";
    case TypedField::kInt32: return "int32_data";
    case TypedField::kInt64: return "int64_data";
    case TypedField::kDouble: return "double_data";
    case TypedField::kUInt64: return "uint64_data";
  }
  return "?";
}

int64_t typedFieldSize(const ::onnx::TensorProto& t, TypedField f) {
  switch (f) {
    case TypedField::kFloat: return t.float_data_size();
    case TypedField::kInt32: return t.int32_data_size();
    case TypedField::kInt64: return t.int64_data_size();
    case TypedField::kDouble: return t.double_data_size();
    case TypedField::kUInt64: return t.uint64_data_size();
  }
  return 0;
}

template <typename Dst, typename Src>
void copyConverted(void* dst, const Src& src) {
  auto* out = static_cast<Dst*>(dst);
  for (int i = 0; i < src.size(); ++i) out[i] = static_cast<Dst>(src.Get(i));
}

void copyTypedField(const ::onnx::TensorProto& t, DataType type, void* dst) {
  switch (type) {
    case DataType::kFloat32: copyConverted<float>(dst, t.float_data()); break;
    case DataType::kFloat64: copyConverted<double>(dst, t.double_data()); break;
    case DataType::kInt64: copyConverted<int64_t>(dst, t.int64_data()); break;
    case DataType::kUInt64: copyConverted<uint64_t>(dst, t.uint64_data()); break;
    case DataType::kUInt32: copyConverted<uint32_t>(dst, t.uint64_data()); break;
    case DataType::kInt32: copyConverted<int32_t>(dst, t.int32_data()); break;
    case DataType::kInt16: copyConverted<int16_t>(dst, t.int32_data()); break;
    case DataType::kUInt16: case DataType::kFloat16: case DataType::kBFloat16:
      copyConverted<uint16_t>(dst, t.int32_data());  // 16-bit patterns in the low half
      break;
    case DataType::kInt8: copyConverted<int8_t>(dst, t.int32_data()); break;
    case DataType::kUInt8: copyConverted<uint8_t>(dst, t.int32_data()); break;
    case DataType::kBool: {
      auto* out = static_cast<uint8_t*>(dst);
      for (int i = 0; i < t.int32_data_size(); ++i) out[i] = t.int32_data(i) != 0 ? 1 : 0;
      break;
    }
    case DataType::kUndefined: case DataType::kString: break;  // rejected before
  }
}

}  // namespace

Expected<DataType> dataTypeFromOnnx(int32_t elemType, const std::string& what) {
  if (elemType == static_cast<int32_t>(DataType::kString))
    return unsupported(what + ": string tensors are not supported");
  if (elemType == 0) return invalidModel(what + ": element type is undefined (0)");
  if (isKnownDataType(elemType)) return static_cast<DataType>(elemType);
  if (elemType > 0 && elemType <= 23)
    return unsupported(what + ": element type " + onnxTypeName(elemType) + " is not supported");
  if (elemType > 23 && elemType <= 64)  // types newer ONNX releases define (float8e8m0, 2-bit ints, ...)
    return unsupported(what + ": element type " + std::to_string(elemType) + " (a newer ONNX type) is not supported");
  return invalidModel(what + ": element type " + std::to_string(elemType) + " is not an ONNX data type");
}

Expected<Tensor> tensorFromProto(const ::onnx::TensorProto& t, const std::string& baseDir, const std::string& what) {
  KILN_ASSIGN_OR_RETURN(DataType type, dataTypeFromOnnx(t.data_type(), what));
  if (t.dims_size() > static_cast<int>(kMaxRank))
    return invalidModel(what + ": rank " + std::to_string(t.dims_size()) + " exceeds the limit of " +
                        std::to_string(kMaxRank));
  Dims dims(t.dims().begin(), t.dims().end());
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] < 0 || dims[i] > kMaxDim)
      return invalidModel(what + ": dim " + std::to_string(i) + " is " + std::to_string(dims[i]) +
                          " (expected 0.." + std::to_string(kMaxDim) + ")");
  const int64_t count = elementCount(dims);
  const size_t elemSize = dataTypeSize(type);
  if (count < 0 || static_cast<uint64_t>(count) > (uint64_t{1} << 62) / elemSize)
    return invalidModel(what + ": shape " + dimsToString(dims) + " has too many elements");
  const size_t bytes = static_cast<size_t>(count) * elemSize;
  if (t.has_segment()) return unsupported(what + ": segmented tensors are not supported");

  // Check the stored size against dims before allocating, so hostile dims cannot make us allocate.
  const bool external = t.data_location() == ::onnx::TensorProto_DataLocation_EXTERNAL;
  const TypedField field = typedFieldOf(type);
  if (!external) {
    if (t.has_raw_data()) {
      if (t.raw_data().size() != bytes)
        return invalidModel(what + ": raw_data holds " + std::to_string(t.raw_data().size()) + " bytes but shape " +
                            dimsToString(dims) + " of " + dataTypeName(type) + " needs " + std::to_string(bytes));
    } else if (typedFieldSize(t, field) != count) {
      return invalidModel(what + ": " + typedFieldName(field) + " holds " + std::to_string(typedFieldSize(t, field)) +
                          " values but shape " + dimsToString(dims) + " of " + dataTypeName(type) + " needs " +
                          std::to_string(count));
    }
  }

  KILN_ASSIGN_OR_RETURN(Tensor tensor, Tensor::allocate(type, dims));
  if (external) {
    KILN_RETURN_IF_ERROR(readExternalData(t, baseDir, bytes, tensor.data(), what));
  } else if (t.has_raw_data()) {
    if (bytes) std::memcpy(tensor.data(), t.raw_data().data(), bytes);
  } else {
    copyTypedField(t, type, tensor.data());
  }
  return tensor;
}

}  // namespace kiln::onnx

// include/kiln/types.h and status.h: DataType, DeviceKind, Precision, StatusCode, TensorDesc and the dims helpers.
// Enum members keep kiln's numbers (DataType's are ONNX's), so int(kiln._kiln.DataType.float16) == 10.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace kiln::python {

nb::dlpack::dtype dlpackTypeOf(DataType type) {
  using Code = nb::dlpack::dtype_code;
  auto make = [](Code code, int bits) {
    return nb::dlpack::dtype{static_cast<uint8_t>(code), static_cast<uint8_t>(bits), 1};
  };
  switch (type) {
    case DataType::kFloat32: return make(Code::Float, 32);
    case DataType::kFloat16: return make(Code::Float, 16);
    case DataType::kFloat64: return make(Code::Float, 64);
    case DataType::kBFloat16: return make(Code::Bfloat, 16);
    case DataType::kInt8: return make(Code::Int, 8);
    case DataType::kInt16: return make(Code::Int, 16);
    case DataType::kInt32: return make(Code::Int, 32);
    case DataType::kInt64: return make(Code::Int, 64);
    case DataType::kUInt8: return make(Code::UInt, 8);
    case DataType::kUInt16: return make(Code::UInt, 16);
    case DataType::kUInt32: return make(Code::UInt, 32);
    case DataType::kUInt64: return make(Code::UInt, 64);
    case DataType::kBool: return make(Code::Bool, 8);
    case DataType::kUndefined:
    case DataType::kString: break;
  }
  return nb::dlpack::dtype{0, 0, 0};
}

DataType dataTypeOfDlpack(nb::dlpack::dtype type) {
  using Code = nb::dlpack::dtype_code;
  if (type.lanes != 1) return DataType::kUndefined;
  switch (static_cast<Code>(type.code)) {
    case Code::Float:
      return type.bits == 32 ? DataType::kFloat32 : type.bits == 16 ? DataType::kFloat16
                             : type.bits == 64 ? DataType::kFloat64 : DataType::kUndefined;
    case Code::Bfloat: return type.bits == 16 ? DataType::kBFloat16 : DataType::kUndefined;
    case Code::Int:
      return type.bits == 8 ? DataType::kInt8 : type.bits == 16 ? DataType::kInt16
           : type.bits == 32 ? DataType::kInt32 : type.bits == 64 ? DataType::kInt64 : DataType::kUndefined;
    case Code::UInt:
      return type.bits == 8 ? DataType::kUInt8 : type.bits == 16 ? DataType::kUInt16
           : type.bits == 32 ? DataType::kUInt32 : type.bits == 64 ? DataType::kUInt64 : DataType::kUndefined;
    case Code::Bool: return type.bits == 8 ? DataType::kBool : DataType::kUndefined;
    default: return DataType::kUndefined;
  }
}

void bindTypes(nb::module_& m) {
  nb::enum_<StatusCode>(m, "StatusCode", nb::is_arithmetic())
      .value("OK", StatusCode::kOk)
      .value("INVALID_ARGUMENT", StatusCode::kInvalidArgument)
      .value("INVALID_MODEL", StatusCode::kInvalidModel)
      .value("UNSUPPORTED", StatusCode::kUnsupported)
      .value("INVALID_ENGINE", StatusCode::kInvalidEngine)
      .value("IO_ERROR", StatusCode::kIoError)
      .value("OUT_OF_MEMORY", StatusCode::kOutOfMemory)
      .value("DEVICE_ERROR", StatusCode::kDeviceError)
      .value("INTERNAL", StatusCode::kInternal);

  nb::enum_<DataType>(m, "DataType", nb::is_arithmetic())
      .value("undefined", DataType::kUndefined)
      .value("float32", DataType::kFloat32)
      .value("uint8", DataType::kUInt8)
      .value("int8", DataType::kInt8)
      .value("uint16", DataType::kUInt16)
      .value("int16", DataType::kInt16)
      .value("int32", DataType::kInt32)
      .value("int64", DataType::kInt64)
      .value("string", DataType::kString)
      .value("bool", DataType::kBool)
      .value("float16", DataType::kFloat16)
      .value("float64", DataType::kFloat64)
      .value("uint32", DataType::kUInt32)
      .value("uint64", DataType::kUInt64)
      .value("bfloat16", DataType::kBFloat16);
  m.def("data_type_size", &dataTypeSize, "Bytes per element; 0 for undefined and string.");
  m.def("data_type_name", &dataTypeName);

  nb::enum_<DeviceKind>(m, "DeviceKind", nb::is_arithmetic())
      .value("cpu", DeviceKind::kCpu)
      .value("cuda", DeviceKind::kCuda);

  nb::enum_<Precision>(m, "Precision", nb::is_arithmetic())
      .value("FP32", Precision::kFP32)
      .value("TF32", Precision::kTF32)
      .value("FP16", Precision::kFP16)
      .value("BF16", Precision::kBF16)
      .value("INT8", Precision::kINT8)
      .value("FP8", Precision::kFP8);

  nb::class_<TensorDesc>(m, "TensorDesc", "A graph input or output as the model declares it; dynamic dims are -1.")
      .def_ro("name", &TensorDesc::name)
      .def_ro("dtype", &TensorDesc::dtype)
      .def_ro("dims", &TensorDesc::dims)
      .def_ro("dim_names", &TensorDesc::dimNames)
      .def("__repr__", [](const TensorDesc& d) {
        return "TensorDesc('" + d.name + "', " + dataTypeName(d.dtype) + ", [" + dimsToString(d.dims) + "])";
      });

  m.def("dims_to_string", [](const Dims& dims) { return dimsToString(dims); }, "[1, 3, 256, 144] -> '1x3x256x144'");
  m.attr("DYNAMIC_DIM") = kDynamicDim;
}

}  // namespace kiln::python

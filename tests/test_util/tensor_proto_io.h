// Test data in ONNX's backend-test layout: TensorProto .pb files -> kiln::Tensor, model signatures, data sets.
// Header-only (tests/CMakeLists.txt compiles only *_test.cpp). Deliberately independent of kiln's own
// TensorProto converter (src/onnx/tensor_proto.cpp), so a bug there cannot hide itself in the references.
// Needs the generated "onnx/onnx.pb.h" (target kiln_onnx_proto; LITE runtime: MessageLite APIs only).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"
#include "onnx/onnx.pb.h"

namespace kiln::test {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

inline Expected<std::string> readFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return ioError("cannot open '" + path + "'");
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/// ONNX TensorProto.DataType -> kiln::DataType for the types kiln knows; kUnsupported for the others (string,
/// complex, float8, int4, ...).
inline Expected<DataType> dataTypeFromProtoNumber(int32_t number, const std::string& what) {
  if (isKnownDataType(number) && number != static_cast<int32_t>(DataType::kString) && number != 0)
    return static_cast<DataType>(number);
  return unsupported(what + ": element type " + std::to_string(number) + " (ONNX TensorProto.DataType) is not one kiln tests handle");
}

namespace detail {

template <typename Dst, typename Src>
inline void copyConverted(Tensor& t, const Src& values) {
  Dst* out = t.dataAs<Dst>();
  for (int i = 0; i < values.size(); ++i) out[i] = static_cast<Dst>(values.Get(i));
}

}  // namespace detail

/// Converts one TensorProto (raw_data or the typed repeated fields; no external data, no segments).
inline Expected<Tensor> tensorFromProto(const ::onnx::TensorProto& proto, const std::string& what) {
  KILN_ASSIGN_OR_RETURN(DataType dtype, dataTypeFromProtoNumber(proto.data_type(), what));
  if (proto.has_segment()) return unsupported(what + ": segmented tensors are not supported");
  if (proto.data_location() == ::onnx::TensorProto::EXTERNAL)
    return unsupported(what + ": external data is not supported in test data");
  Dims dims(proto.dims().begin(), proto.dims().end());
  const int64_t count = kiln::elementCount(dims);
  if (count < 0) return invalidArgument(what + ": bad shape " + dimsToString(dims));
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, dims));
  const size_t elemSize = dataTypeSize(dtype);
  const size_t bytes = static_cast<size_t>(count) * elemSize;
  auto countMismatch = [&](int found) {
    return invalidArgument(what + ": shape " + dimsToString(dims) + " needs " + std::to_string(count) +
                           " values, the proto holds " + std::to_string(found));
  };
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes)
      return invalidArgument(what + ": raw_data has " + std::to_string(proto.raw_data().size()) +
                             " bytes, shape " + dimsToString(dims) + " needs " + std::to_string(bytes));
    if (bytes) std::memcpy(t.data(), proto.raw_data().data(), bytes);  // little-endian hosts only, as ONNX's
    return t;
  }
  switch (dtype) {
    case DataType::kFloat32:
      if (proto.float_data_size() != count) return countMismatch(proto.float_data_size());
      detail::copyConverted<float>(t, proto.float_data());
      break;
    case DataType::kFloat64:
      if (proto.double_data_size() != count) return countMismatch(proto.double_data_size());
      detail::copyConverted<double>(t, proto.double_data());
      break;
    case DataType::kInt64:
      if (proto.int64_data_size() != count) return countMismatch(proto.int64_data_size());
      detail::copyConverted<int64_t>(t, proto.int64_data());
      break;
    case DataType::kUInt32:
      if (proto.uint64_data_size() != count) return countMismatch(proto.uint64_data_size());
      detail::copyConverted<uint32_t>(t, proto.uint64_data());
      break;
    case DataType::kUInt64:
      if (proto.uint64_data_size() != count) return countMismatch(proto.uint64_data_size());
      detail::copyConverted<uint64_t>(t, proto.uint64_data());
      break;
    case DataType::kInt32: case DataType::kInt16: case DataType::kInt8: case DataType::kUInt16:
    case DataType::kUInt8: case DataType::kBool: case DataType::kFloat16: case DataType::kBFloat16:
      // ONNX stores these in int32_data, one value (or 16-bit pattern) per entry.
      if (proto.int32_data_size() != count) return countMismatch(proto.int32_data_size());
      switch (elemSize) {
        case 1: detail::copyConverted<uint8_t>(t, proto.int32_data()); break;
        case 2: detail::copyConverted<uint16_t>(t, proto.int32_data()); break;
        default: detail::copyConverted<int32_t>(t, proto.int32_data()); break;
      }
      if (dtype == DataType::kBool)
        for (int64_t i = 0; i < count; ++i) t.dataAs<uint8_t>()[i] = t.dataAs<uint8_t>()[i] != 0;
      break;
    default:
      return unsupported(what + ": element type " + dataTypeName(dtype) + " is not handled");
  }
  return t;
}

/// Reads a serialized TensorProto file; `name` receives the tensor's name (may be empty).
inline Expected<NamedTensor> readTensorProtoFile(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, readFileBytes(path));
  ::onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) return invalidArgument("'" + path + "' is not a TensorProto");
  KILN_ASSIGN_OR_RETURN(Tensor t, tensorFromProto(proto, "'" + path + "'"));
  return NamedTensor{proto.name(), std::move(t)};
}

/// What the test needs to know about a model without kiln: its graph inputs (initializers excluded) and
/// outputs in order, whether each is a plain tensor, and the op types it uses.
struct ModelSignature {
  std::vector<std::string> inputs, outputs;
  std::vector<bool> inputIsTensor, outputIsTensor;
  std::vector<std::string> opTypes;  // unique, in order of first use
  int64_t opset = 0;
};

inline Expected<ModelSignature> readModelSignature(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, readFileBytes(path));
  ::onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return invalidArgument("'" + path + "' is not a ModelProto");
  ModelSignature sig;
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  for (const auto& in : model.graph().input()) {
    if (initializers.count(in.name())) continue;
    sig.inputs.push_back(in.name());
    sig.inputIsTensor.push_back(in.type().has_tensor_type());
  }
  for (const auto& out : model.graph().output()) {
    sig.outputs.push_back(out.name());
    sig.outputIsTensor.push_back(out.type().has_tensor_type());
  }
  for (const auto& node : model.graph().node())
    if (std::find(sig.opTypes.begin(), sig.opTypes.end(), node.op_type()) == sig.opTypes.end())
      sig.opTypes.push_back(node.op_type());
  for (const auto& opset : model.opset_import())
    if (opset.domain().empty() || opset.domain() == "ai.onnx") sig.opset = opset.version();
  return sig;
}

/// One test_data_set_K: the inputs and expected outputs, named after the model's graph inputs/outputs.
struct DataSet {
  std::string dir;
  std::vector<NamedTensor> inputs, outputs;
};

/// The test_data_set_K folders of a model dir, in K order.
inline std::vector<std::string> listDataSetDirs(const std::string& modelDir) {
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(modelDir, ec)) {
    const std::string name = e.path().filename().string();
    const std::string prefix = "test_data_set_";
    if (e.is_directory() && name.rfind(prefix, 0) == 0) found.emplace_back(std::atol(name.c_str() + prefix.size()), e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> dirs;
  for (auto& f : found) dirs.push_back(f.second);
  return dirs;
}

/// Reads input_N.pb / output_N.pb of one data set; names come from the signature (the .pb names may be empty).
inline Expected<DataSet> readDataSet(const std::string& setDir, const ModelSignature& sig) {
  DataSet set;
  set.dir = setDir;
  auto readAll = [&](const char* prefix, const std::vector<std::string>& names,
                     std::vector<NamedTensor>& into) -> Status {
    for (size_t n = 0;; ++n) {
      const std::string path = setDir + "/" + prefix + std::to_string(n) + ".pb";
      if (!std::filesystem::exists(path)) break;
      if (n >= names.size())
        return invalidArgument("'" + path + "' has no matching graph " + std::string(prefix) + " (model has " +
                               std::to_string(names.size()) + ")");
      KILN_ASSIGN_OR_RETURN(NamedTensor t, readTensorProtoFile(path));
      t.name = names[n];
      into.push_back(std::move(t));
    }
    return Status::ok();
  };
  KILN_RETURN_IF_ERROR(readAll("input_", sig.inputs, set.inputs));
  KILN_RETURN_IF_ERROR(readAll("output_", sig.outputs, set.outputs));
  return set;
}

}  // namespace kiln::test

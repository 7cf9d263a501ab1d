// TensorProto → kiln::Tensor, for every storage form ONNX allows, with sizes checked before anything is allocated.
#pragma once

#include <string>

#include "kiln/status.h"
#include "kiln/types.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

/// Largest rank and dim the importer accepts; beyond them a model is hostile or broken.
inline constexpr size_t kMaxRank = 64;
inline constexpr int64_t kMaxDim = int64_t{1} << 40;

/// ONNX elem_type → DataType. kUnsupported for complex/string/float8 and other types kiln lacks, kInvalidModel for
/// numbers ONNX does not define. `what` names the place in messages.
Expected<DataType> dataTypeFromOnnx(int32_t elemType, const std::string& what);

/// Converts `tensor`; external data is read from files inside `baseDir` ("" forbids it). `what` names the tensor
/// in messages, e.g. "initializer 'conv1.weight'".
Expected<Tensor> tensorFromProto(const ::onnx::TensorProto& tensor, const std::string& baseDir, const std::string& what);

}  // namespace kiln::onnx

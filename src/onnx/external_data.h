// Weights stored outside the .onnx file (TensorProto.data_location == EXTERNAL), confined to the model's folder.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/status.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

/// Reads exactly `byteCount` bytes described by `tensor`'s external_data entries (location, offset, length) into
/// `destination`. The file must resolve (symlinks followed) inside `baseDir`; an empty baseDir forbids external data.
/// `what` names the tensor in messages ("initializer 'w'").
Status readExternalData(const ::onnx::TensorProto& tensor, const std::string& baseDir, size_t byteCount,
                        void* destination, const std::string& what);

}  // namespace kiln::onnx

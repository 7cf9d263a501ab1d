// Bytes → ModelProto, and the model-level checks that come before any node is looked at.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/status.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

inline constexpr int64_t kMinOpset = 13;
inline constexpr int64_t kMaxOpset = 28;

/// Parses a serialized ModelProto; malformed, truncated or oversized input gives kInvalidModel.
Expected<::onnx::ModelProto> parseModelProto(const void* data, size_t size);

/// The opset version of the default domain ("" or "ai.onnx"); kUnsupported outside kMinOpset..kMaxOpset.
Expected<int64_t> defaultDomainOpset(const ::onnx::ModelProto& model);

/// True for "" and "ai.onnx".
bool isDefaultDomain(const std::string& domain);

}  // namespace kiln::onnx

// RAII for cuDNN backend (graph API) descriptors, the attribute-setting macro the graph-API kernels use, and the
// cuDNN data type of a kiln float type (both cuDNN conv paths).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {

/// One backend descriptor, destroyed with its owner.
class CudnnDescriptor {
 public:
  CudnnDescriptor() = default;
  explicit CudnnDescriptor(cudnnBackendDescriptor_t d) : d_(d) {}
  CudnnDescriptor(CudnnDescriptor&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  CudnnDescriptor& operator=(CudnnDescriptor&& o) noexcept {
    if (this != &o) {
      reset();
      d_ = std::exchange(o.d_, nullptr);
    }
    return *this;
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  ~CudnnDescriptor() { reset(); }
  void reset() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
    d_ = nullptr;
  }
  cudnnBackendDescriptor_t get() const { return d_; }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

/// cuDNN's name for the float types its convolutions take (float32, float16, bfloat16); nothing for others.
inline std::optional<cudnnDataType_t> cudnnTypeOf(DataType t) {
  switch (t) {
    case DataType::kFloat32: return CUDNN_DATA_FLOAT;
    case DataType::kFloat16: return CUDNN_DATA_HALF;
    case DataType::kBFloat16: return CUDNN_DATA_BFLOAT16;
    default: return std::nullopt;
  }
}

inline Expected<CudnnDescriptor> createCudnnDescriptor(cudnnBackendDescriptorType_t type, const std::string& where) {
  cudnnBackendDescriptor_t d = nullptr;
  KILN_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d), where);
  return CudnnDescriptor(d);
}

}  // namespace kiln::backends::cuda

/// Sets one attribute of a CudnnDescriptor; on failure returns from the caller with an error that names the
/// attribute after the caller's `where` string.
#define KILN_CUDNN_SET(desc, name, type, count, ptr) \
  KILN_CUDNN_CHECK(cudnnBackendSetAttribute((desc).get(), name, type, count, ptr), where + #name + ": ")

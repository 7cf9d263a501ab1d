#include "stream_timer.h"

#include <chrono>
#include <string>

#if defined(KILN_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace kiln::cli {
namespace {

class HostTimer final : public StreamTimer {
 public:
  Status start(void*) override {
    t0_ = std::chrono::steady_clock::now();
    return Status::ok();
  }
  Expected<double> stopMs(void*) override {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_;
};

#if defined(KILN_WITH_CUDA)
Status cudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok();
  return deviceError(std::string(what) + ": " + cudaGetErrorString(e));
}

class CudaEventTimer final : public StreamTimer {
 public:
  ~CudaEventTimer() override {
    if (begin_) cudaEventDestroy(begin_);
    if (end_) cudaEventDestroy(end_);
  }
  Status init() {
    KILN_RETURN_IF_ERROR(cudaStatus(cudaEventCreate(&begin_), "cudaEventCreate"));
    return cudaStatus(cudaEventCreate(&end_), "cudaEventCreate");
  }
  Status start(void* stream) override {
    return cudaStatus(cudaEventRecord(begin_, static_cast<cudaStream_t>(stream)), "cudaEventRecord");
  }
  Expected<double> stopMs(void* stream) override {
    KILN_RETURN_IF_ERROR(cudaStatus(cudaEventRecord(end_, static_cast<cudaStream_t>(stream)), "cudaEventRecord"));
    KILN_RETURN_IF_ERROR(cudaStatus(cudaEventSynchronize(end_), "cudaEventSynchronize"));
    float ms = 0;
    KILN_RETURN_IF_ERROR(cudaStatus(cudaEventElapsedTime(&ms, begin_, end_), "cudaEventElapsedTime"));
    return static_cast<double>(ms);
  }

 private:
  cudaEvent_t begin_ = nullptr, end_ = nullptr;
};
#endif

}  // namespace

Expected<std::unique_ptr<StreamTimer>> StreamTimer::create(DeviceKind device) {
#if defined(KILN_WITH_CUDA)
  if (device == DeviceKind::kCuda) {
    auto timer = std::make_unique<CudaEventTimer>();
    KILN_RETURN_IF_ERROR(timer->init());
    return std::unique_ptr<StreamTimer>(std::move(timer));
  }
#endif
  (void)device;
  return std::unique_ptr<StreamTimer>(std::make_unique<HostTimer>());
}

}  // namespace kiln::cli

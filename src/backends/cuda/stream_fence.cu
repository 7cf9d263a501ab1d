#include "backends/cuda/stream_fence.h"

namespace kiln::backends::cuda {
namespace {

__global__ void streamFenceKernel() {}

}  // namespace

cudaError_t launchStreamFence(cudaStream_t stream) {
  streamFenceKernel<<<1, 1, 0, stream>>>();
  return cudaGetLastError();
}

}  // namespace kiln::backends::cuda

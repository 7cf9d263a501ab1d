#include "backends/cuda/kernel_race.h"

#include <algorithm>
#include <cmath>

namespace kiln::backends::cuda {

Scratch::~Scratch() {
  for (void* p : owned_) cudaFree(p);
}

void* Scratch::allocate(size_t bytes) {
  void* p = nullptr;
  bytes = std::max<size_t>(bytes, 256);
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  owned_.push_back(p);
  if (cudaMemset(p, 0, bytes) != cudaSuccess) (void)cudaGetLastError();
  return p;
}

float medianMilliseconds(const Kernel& kernel, std::span<const DeviceTensor> in, std::span<const DeviceTensor> out,
                         void* workspace, cudaEvent_t start, cudaEvent_t stop) {
  constexpr int kWarmUp = 3, kBatches = 7, kPerBatch = 10;
  for (int i = 0; i < kWarmUp; ++i)
    if (!kernel.run(in, out, workspace, nullptr).isOk()) return NAN;
  std::vector<float> perRun;
  for (int b = 0; b < kBatches; ++b) {
    if (cudaEventRecord(start, nullptr) != cudaSuccess) return NAN;
    for (int i = 0; i < kPerBatch; ++i)
      if (!kernel.run(in, out, workspace, nullptr).isOk()) return NAN;
    float ms = 0;
    if (cudaEventRecord(stop, nullptr) != cudaSuccess || cudaEventSynchronize(stop) != cudaSuccess ||
        cudaEventElapsedTime(&ms, start, stop) != cudaSuccess)
      return NAN;
    perRun.push_back(ms / kPerBatch);
  }
  std::sort(perRun.begin(), perRun.end());
  return perRun[perRun.size() / 2];
}

int race(std::vector<RaceEntrant>& entrants, std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs) {
  if (entrants.empty()) return -1;
  Scratch scratch;
  std::vector<DeviceTensor> in(inputs.begin(), inputs.end()), out(outputs.begin(), outputs.end());
  for (auto* list : {&in, &out})
    for (DeviceTensor& t : *list) {
      if (!t.present()) continue;
      if (!(t.data = scratch.allocate(static_cast<size_t>(t.elementCount()) * dataTypeSize(t.dtype)))) return -1;
    }
  size_t workspaceBytes = 0;
  for (const RaceEntrant& e : entrants) workspaceBytes = std::max(workspaceBytes, e.kernel->workspaceBytes(in, out));
  void* workspace = workspaceBytes ? scratch.allocate(workspaceBytes) : nullptr;
  if (workspaceBytes && !workspace) return -1;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
    (void)cudaGetLastError();
    if (start) cudaEventDestroy(start);
    return -1;
  }
  // The first entrant runs twice: once to bring the GPU to its clocks, then for real.
  (void)medianMilliseconds(*entrants[0].kernel, in, out, workspace, start, stop);
  int best = -1;
  for (size_t i = 0; i < entrants.size(); ++i) {
    entrants[i].ms = medianMilliseconds(*entrants[i].kernel, in, out, workspace, start, stop);
    (void)cudaGetLastError();  // a failed candidate must not leave a sticky error for the rest of the build
    if (!std::isnan(entrants[i].ms) && (best < 0 || entrants[i].ms < entrants[best].ms)) best = static_cast<int>(i);
  }
  (void)cudaDeviceSynchronize();
  (void)cudaGetLastError();
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

}  // namespace kiln::backends::cuda
